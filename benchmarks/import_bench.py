"""Time an import of ROWS rows (.xlsx) on a generated database: the per-row path and the bulk path.

    PYTHONPATH=. python benchmarks/import_bench.py --url sqlite:///PATH.sqlite3 [--rows 10000]
        [--path rows,bulk] [--repeat 1] [--file PATH.xlsx]

The file is made as ``run.py`` makes it (``import_file``: the template's columns, new leads
spread over the units, seed 1) unless ``--file`` names one. Each run reads the file, checks every
row (``preview``), writes (``import_rows`` a row at a time, or ``bulk_import_rows``), bumps the
statistics versions as the commit would, then rolls back, so the database stays as generated
and every run measures the same data. Prints each phase's seconds and the load average.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import run  # noqa: E402


def one(app, path: Path, how: str) -> dict:
    import sqlalchemy as sa

    from crm.auth.models import User
    from crm.extensions import db
    from crm.imports.bulk import bulk_import_rows
    from crm.imports.reader import read_table
    from crm.imports.service import import_rows, preview
    from crm.stats import versions

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.role == "district_admin")
                                 .order_by(User.id))
        began = time.perf_counter()
        table = read_table(path)
        read = time.perf_counter()
        results = preview(user, table, release=True)
        checked = time.perf_counter()
        bad = [line for r in results if r.errors for line in r.error_lines()]
        if bad:
            raise RuntimeError("import rows refused: " + "; ".join(bad[:5]))
        if how == "bulk":
            count = bulk_import_rows(user, results, path.name)
        else:
            count = len(import_rows(user, results, path.name))
        db.session.flush()
        versions.bump_versions(db.session)
        written = time.perf_counter()
        db.session.rollback()
        return {"read": read - began, "check": checked - read, "write": written - checked,
                "total": written - began, "leads": count}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=run.IMPORT_ROWS)
    parser.add_argument("--path", default="rows,bulk", help="rows, bulk or both (rows,bulk)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--file", type=Path)
    args = parser.parse_args(argv)
    run.IMPORT_ROWS = max(args.rows, run.IMPORT_ROWS)
    app = run.build_app(args.url)
    app.config["CRM_IMPORT_MAX_ROWS"] = max(args.rows, 5000)
    app.config["CRM_IMPORT_MAX_CELLS"] = max(args.rows * 40, 200_000)
    app.config["CRM_IMPORT_MAX_BYTES"] = 200 * 1024 * 1024
    app.config["CRM_IMPORT_MAX_SECONDS"] = 600
    path = args.file or Path(f"/tmp/import-bench-{os.getpid()}.xlsx")
    if args.file is None:
        run.import_file(app, path, args.rows, 1)
    try:
        for how in [p.strip() for p in args.path.split(",") if p.strip()]:
            for _ in range(args.repeat):
                load = os.getloadavg()
                out = one(app, path, how)
                print(f"{how:5} {args.rows} rows: read {out['read']:.2f} s, check "
                      f"{out['check']:.2f} s, write {out['write']:.2f} s, total "
                      f"{out['total']:.2f} s ({out['leads']} leads; load "
                      f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f})", flush=True)
    finally:
        if args.file is None:
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
