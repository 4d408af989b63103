"""Check that the statistics engine gives identical numbers to a reference copy of it.

    python benchmarks/compare_stats.py --url URL --reference OLD_QUERIES.py

Loads the reference module (e.g. the engine before an optimisation, saved from git) and compares
every unit's numbers for several users, years, as-of dates and filters on the database at URL.
"""

import argparse
import datetime as dt
import importlib.util
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIELDS = ("snapshot", "entered", "reached", "velocity", "actuals", "start_rate",
          "stats_inclusion_rate", "funds_arrival_rate", "mean_attainment", "rank")


def load(path: str):
    spec = importlib.util.spec_from_file_location("reference_queries", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(today: dt.date, users, units, industries):
    for user in users:
        for year, as_of in ((today.year, today), (today.year - 1, dt.date(today.year - 1, 12, 31)),
                            (today.year - 1, dt.date(today.year - 1, 6, 30)),
                            (today.year, dt.date(today.year, 3, 31)),
                            (today.year - 2, today)):
            yield user, year, as_of, {}
        yield user, today.year, today, {"industry": industries[0]}
        yield user, today.year, today, {"township_ids": units[:3]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--reference", required=True)
    args = parser.parse_args(argv)
    import run

    from crm.auth.models import User
    from crm.clock import today
    from crm.extensions import db
    from crm.industries.models import Industry
    from crm.leads.models import Lead
    from crm.stats import queries

    reference = load(args.reference)
    app = run.build_app(args.url)
    differences = 0
    with app.app_context():
        users = [db.session.scalar(sa.select(User).where(User.role == "district_admin")),
                 db.session.scalar(sa.select(User).where(User.role == "township_head")
                                   .order_by(User.id.desc()))]
        units = db.session.scalars(sa.select(Lead.township_id).distinct().limit(3)).all()
        industries = db.session.scalars(sa.select(Industry.name).join(
            Lead, Lead.industry_id == Industry.id).distinct()).all()
        for user, year, as_of, kw in cases(today(), users, units, industries):
            began = time.perf_counter()
            new = queries.district_stats(user, year, as_of, **kw)
            middle = time.perf_counter()
            old = reference.district_stats(user, year, as_of, **kw)
            ended = time.perf_counter()
            for a, b in zip(new.units, old.units, strict=True):
                for name in FIELDS:
                    if getattr(a, name) != getattr(b, name):
                        differences += 1
                        print(f"DIFF {user.username} {year} {as_of} {kw} unit {a.township_id} "
                              f"{name}: {getattr(a, name)} != {getattr(b, name)}")
                if [(t.metric, t.actual, t.color) for t in a.targets] != \
                        [(t.metric, t.actual, t.color) for t in b.targets]:
                    differences += 1
                    print(f"DIFF targets unit {a.township_id}")
            print(f"{user.username:<16} {year} {as_of} {kw!s:<32} units {len(new.units):>5}  "
                  f"new {1000 * (middle - began):7.1f} ms  reference {1000 * (ended - middle):7.1f} ms")
    print("identical" if not differences else f"{differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
