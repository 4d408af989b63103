"""Floods against a real gunicorn: 300 concurrent wrong sign-ins from 300 addresses while a user
posts visits, and one API rate limit shared by every worker.

    .venv/bin/python benchmarks/floods.py --db sqlite
    .venv/bin/python benchmarks/floods.py --db postgresql --pg-server postgresql+psycopg://…/postgres

For each database it prepares a fresh one (`crm db upgrade`, `crm seed-demo`), starts gunicorn
(crm/gunicorn_conf.py; --workers, 4 threads each) behind a pretend proxy (CRM_PROXY_FIX=1: the
last X-Forwarded-For is the client's address, as nginx sets it), with the production password
hash (scrypt).

1. Sign-in flood: 300 clients each fetch /login (for the CSRF token) and post a wrong password for
   a demo account from an address of their own, all at once; meanwhile an officer posts a visit
   through the API every 0.2 s. Printed: the answers to the flood, how many were hashed (the
   sign-in log's outcomes) and the slowest visit. The visit must succeed in < 1 s.
2. Shared API limit: CRM_API_RATE_LIMIT=60/minute; 180 calls with one token, 12 at a time on
   fresh connections (spread over the workers), inside one window: exactly 60 must answer 200.

The exit status is 1 when a visit failed or took 1 s or more, or the limit was not held once.
"""

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402

DEFAULT_PG = os.environ.get("CRM_TEST_POSTGRES_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:54329/postgres")
API_LIMIT = 60


def _post_visits(base: str, token: str, lead_id: int, stop, results) -> None:
    """A colleague posting a visit every 0.2 s, in a process of its own: its timings are the
    server's, not the flood client's event loop's (which is busy with 600 requests)."""
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}",
                                                          "X-Forwarded-For": "10.99.0.1"}) as api:
        while not stop.is_set():
            body = {"visited_on": harness.today().isoformat(), "kind": "call",
                    "summary": f"{harness.marker()} 洪水期间的走访"}
            started = time.perf_counter()
            try:
                status = api.post(f"/api/v1/leads/{lead_id}/visits", json=body).status_code
            except httpx.HTTPError:
                status = 0
            results.put(harness.Outcome("visit", status, time.perf_counter() - started, lead_id))
            time.sleep(0.2)


async def flood(base: str, usernames: list[str], guesses: int, api_token: str, lead_id: int):
    limits = httpx.Limits(max_connections=guesses, max_keepalive_connections=0)
    statuses: Counter = Counter()

    async def guess(i: int):
        address = f"10.{i // 250}.{i % 250}.{7}"
        headers = {"X-Forwarded-For": address}
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
            try:
                page = await c.get("/login", headers=headers)
                r = await c.post("/login", headers=headers, data={
                    "csrf_token": harness.csrf_token(page.text),
                    "username": usernames[i % len(usernames)], "password": f"wrong-{i}"})
                statuses[r.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

    context = multiprocessing.get_context("fork")
    stop, results = context.Event(), context.Queue()
    poster = context.Process(target=_post_visits, args=(base, api_token, lead_id, stop, results))
    poster.start()
    time.sleep(0.5)  # the colleague is at work before the flood starts
    started = time.perf_counter()
    await asyncio.gather(*[guess(i) for i in range(guesses)])
    elapsed = time.perf_counter() - started
    time.sleep(0.5)
    stop.set()
    poster.join(60)
    visits = []
    while not results.empty():
        visits.append(results.get())
    return statuses, visits, elapsed


async def api_limit(base: str, token: str, calls: int, parallel: int) -> Counter:
    codes: Counter = Counter()
    sem = asyncio.Semaphore(parallel)

    async def call(i):
        async with sem:
            # A connection per call: gunicorn hands each to whichever worker accepts it.
            async with httpx.AsyncClient(base_url=base, timeout=60) as c:
                r = await c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}",
                                                       "X-Forwarded-For": f"10.98.0.{i % 250}"})
                codes[r.status_code] += 1
                if r.status_code == 429:
                    codes["retry_after_ok"] += int(1 <= int(r.headers["Retry-After"]) <= 60)

    await asyncio.gather(*[call(i) for i in range(calls)])
    return codes


def sign_in_outcomes(url: str) -> Counter:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return Counter(dict(conn.execute(sa.text(
                "SELECT outcome, COUNT(*) FROM login_attempts GROUP BY outcome")).all()))
    finally:
        engine.dispose()


def run(kind: str, url: str, workers: int, guesses: int, tmp: str) -> bool:
    harness.prepare_database(url)
    accounts = harness.accounts(url)
    officer = next(a for a in accounts if a.role == "officer" and a.editable)
    caller = next(a for a in accounts if a is not officer)  # its own API window
    usernames = [a.username for a in accounts]
    ok = True
    with harness.Gunicorn(url, workers=workers, threads=4, log_dir=tmp, CRM_PROXY_FIX=1,
                          CRM_API_RATE_LIMIT=f"{API_LIMIT}/minute") as server:
        statuses, visits, elapsed = asyncio.run(
            flood(server.url, usernames, guesses, officer.token, officer.editable[0]))
        outcomes = sign_in_outcomes(url)
        slowest = max(v.seconds for v in visits)
        visit_codes = Counter(v.status for v in visits)
        print(f"[{kind}] {workers} workers: {guesses} wrong sign-ins in {elapsed:.1f} s, answers "
              f"{dict(statuses)}; sign-in log {dict(outcomes)}")
        print(f"[{kind}] visits posted meanwhile: {len(visits)}, answers {dict(visit_codes)}, "
              f"slowest {slowest * 1000:.0f} ms, median "
              f"{harness.percentile([v.seconds for v in visits], 50) * 1000:.0f} ms")
        if set(visit_codes) != {201} or slowest >= 1.0:
            ok = False
        # Start the API calls at the top of a minute window, so that they all fall in one.
        time.sleep((60 - time.time() % 60) % 60 + 0.5 if time.time() % 60 > 30 else 0)
        codes = asyncio.run(api_limit(server.url, caller.token, 3 * API_LIMIT, 12))
        print(f"[{kind}] API limit {API_LIMIT}/minute, {3 * API_LIMIT} calls over {workers} workers: "
              f"{codes[200]} answered 200, {codes[429]} answered 429 "
              f"({codes['retry_after_ok']} with a Retry-After within the window)")
        if codes[200] != API_LIMIT:
            ok = False
        errors = [line for line in server.log().splitlines() if "Traceback" in line]
        if errors:
            print(f"[{kind}] server log: {len(errors)} tracebacks")
            ok = False
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-server", default=DEFAULT_PG,
                        help="a PostgreSQL server URL on which a fresh database is made")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--guesses", type=int, default=300)
    args = parser.parse_args(argv)
    ok = True
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="crm-floods-") as tmp:
            if kind == "sqlite":
                ok &= run(kind, harness.sqlite_url(tmp), args.workers, args.guesses, tmp)
            else:
                with harness.postgres_database(args.pg_server, prefix="crm_floods") as url:
                    ok &= run(kind, url, args.workers, args.guesses, tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
