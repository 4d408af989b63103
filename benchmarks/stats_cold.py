"""The stats API with the statistics cache empty, alone: every unit computed and stored.

    PYTHONPATH=. python benchmarks/stats_cold.py --url sqlite:////path/bench_100000.sqlite3 \
        [--repeat 5] [--profile 30]

Each run empties ``stats_cache`` and times ``GET /api/v1/stats/townships`` as a district admin
(as ``run.py``'s "cache empty" figure does once); prints every run, the median, the time spent
in SQL statements (cursor execute and fetch) of the last run and, with ``--profile N``, the
``N`` costliest functions of one more run by their own time.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(__file__))

import run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--statements", action="store_true",
                        help="time each statement of a cold run alone (execute and fetch)")
    args = parser.parse_args(argv)

    from crm.extensions import db

    app = run.build_app(args.url)
    subjects = run.Subjects(app)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {run.api_token(app, subjects.admin)}"}
    with app.app_context():
        engine = db.engine

    def empty():
        with app.app_context():
            db.session.execute(sa.text("DELETE FROM stats_cache"))
            db.session.commit()

    def call():
        response = client.get("/api/v1/stats/townships", headers=bearer)
        assert response.status_code == 200, response.status_code
        return response

    sql = {"s": 0.0}
    started = {}

    def before(conn, *_a):
        started[id(conn)] = time.perf_counter()

    def after(conn, *_a):
        sql["s"] += time.perf_counter() - started.pop(id(conn), time.perf_counter())

    print(f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    call()  # warm the process (imports, templates)
    times = []
    for _ in range(args.repeat):
        empty()
        sql["s"] = 0.0
        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        print(f"cold stats API {times[-1] * 1000:8.0f} ms (statements executed: "
              f"{sql['s'] * 1000:.0f} ms)", flush=True)
    print(f"median {statistics.median(times) * 1000:.0f} ms of {len(times)}; "
          f"load {os.getloadavg()[0]:.2f}")
    if args.statements:
        empty()
        with run.measure.capture_sql(engine) as statements:
            call()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters, many in statements:
                if statement.split(None, 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                    continue
                t0 = time.perf_counter()
                if many:
                    cursor.executemany(statement, parameters)
                elif parameters in (None, (), {}):
                    cursor.execute(statement)
                else:
                    cursor.execute(statement, parameters)
                n = len(cursor.fetchall()) if cursor.description is not None else cursor.rowcount
                elapsed = time.perf_counter() - t0
                text = " ".join(statement.split())
                print(f"{elapsed * 1000:8.1f} ms {n:6} rows  {text[:150]}")
            raw.rollback()
        finally:
            raw.close()
    if args.profile:
        empty()
        profile = cProfile.Profile()
        profile.runcall(call)
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
