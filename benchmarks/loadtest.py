"""Load test: a real gunicorn, N concurrent users, 80 % reads and 20 % writes, then a check that
every acknowledged write is in the database.

    .venv/bin/python benchmarks/loadtest.py --db postgresql --workers 4
    .venv/bin/python benchmarks/loadtest.py --db sqlite --workers 2
    .venv/bin/python benchmarks/loadtest.py --url postgresql+psycopg://…/big   # an existing database

It prepares a fresh database itself (`crm db upgrade`, `crm seed-demo`) unless --url is given
(it writes to that database: API tokens named "loadtest", marked visits and edits), starts
gunicorn on a free loopback port with crm/gunicorn_conf.py, signs every demo account in
through the /login form (pages) and gives it an API token, and runs the users headless. The exit
status is 1 when a request failed (5xx, no answer, "database is locked") or a write was lost.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://crm:crm@127.0.0.1:5432/crm_test"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--url", help="use this existing database (already migrated and seeded)")
    parser.add_argument("--pg-server", default=os.environ.get("CRM_TEST_POSTGRES_URL", DEFAULT_PG),
                        help="a PostgreSQL server URL on which a fresh database is made")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (4 on PG, 2 on SQLite)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--writes", type=float, default=0.2, help="share of writes (0.2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calibrate", type=float, default=15,
                        help="seconds of one user alone first, to time the mix's mean service "
                             "time and so the machine's limit (0: skip)")
    parser.add_argument("--password", default=harness.DEMO_PASSWORD,
                        help="password of the users of an existing database (--url)")
    args = parser.parse_args(argv)
    if args.url:
        args.db = "sqlite" if args.url.startswith("sqlite") else "postgresql"
    workers = args.workers or (4 if args.db == "postgresql" else 2)

    with tempfile.TemporaryDirectory(prefix="crm-loadtest-") as tmp:
        if args.url:
            return run(args.url, args, workers, tmp)
        if args.db == "sqlite":
            url = harness.sqlite_url(tmp)
            harness.prepare_database(url)
            return run(url, args, workers, tmp)
        with harness.postgres_database(args.pg_server) as url:
            harness.prepare_database(url)
            return run(url, args, workers, tmp)


def run(url: str, args, workers: int, tmp: str) -> int:
    accounts = harness.accounts(url, limit=max(args.users, 15))
    before = harness.snapshot(url)
    print(f"database: {url.split('@')[-1]}  leads: {len(before['leads'])}  accounts: {len(accounts)}")
    with harness.Gunicorn(url, workers=workers, threads=args.threads, log_dir=tmp) as server:
        print(f"gunicorn {server.url}: {workers} workers x {args.threads} threads; "
              f"{args.users} users for {args.seconds:.0f} s, {args.writes:.0%} writes")
        alone = []
        if args.calibrate:
            alone, _ = harness.run_clients(server.url, accounts, 1, args.calibrate, args.writes,
                                           seed=args.seed + 1, password=args.password)
        outcomes, elapsed = harness.run_clients(server.url, accounts, args.users, args.seconds,
                                                args.writes, seed=args.seed, password=args.password)
        server.stop()
        log = server.log()
    print(harness.report(outcomes, elapsed))
    if alone:
        print(limit_line(alone, outcomes, elapsed))
    failed = harness.errors(outcomes)
    locked_in_log = log.count("database is locked")
    tracebacks = log.count("Traceback") + log.count("WORKER TIMEOUT")
    check = harness.verify(url, alone + outcomes, before)
    print(f"errors: {len(failed)} (5xx or no answer); 'database is locked' in the server log: "
          f"{locked_in_log}; tracebacks or worker timeouts in the log: {tracebacks}")
    for o in failed[:10]:
        print(f"  {o.kind} lead {o.lead_id}: {o.status} {o.note[:200]}")
    print("writes acknowledged: " + ", ".join(f"{k} {n}" for k, n in sorted(check.acknowledged.items()))
          + f"; found in the database: {sum(check.found.values())} of {sum(check.acknowledged.values())}"
          + f"; lost: {len(check.lost)}")
    for problem in check.problems[:10]:
        print(f"  {problem}")
    bad = failed or locked_in_log or not check.ok
    print("RESULT: " + ("FAIL" if bad else "OK: 0 errors, 0 lost writes"))
    return 1 if bad else 0


def limit_line(alone, outcomes, elapsed: float) -> str:
    """The machine's limit for this mix: its cores divided by the mean service time of one
    request when one user runs the mix alone; the load's throughput beside it (target ≥ 70 %)."""
    service = sum(o.seconds for o in alone) / len(alone)
    cores = os.cpu_count() or 1
    limit = cores / service
    throughput = len(outcomes) / elapsed
    share = throughput / limit
    return (f"machine's limit: {cores} cores / {service * 1000:.0f} ms mean service time alone "
            f"({len(alone)} requests) = {limit:.1f} req/s; throughput {throughput:.1f} req/s = "
            f"{share:.0%} of it (target >= 70 %: {'met' if share >= 0.7 else 'miss'})")


if __name__ == "__main__":
    sys.exit(main())
