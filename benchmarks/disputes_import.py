"""Import preview with cross-unit duplicates: 5,000 rows, 500 of them investors another unit
holds, against the same file without them (each must be previewed; at most 2x the time).

    python benchmarks/disputes_import.py [--rows 5000] [--dups 500] [--existing 5000]
"""

import argparse
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHARS = "华鲁恒升昌中宠食品鑫润泽专用车天之娇纺织沃辉新材料金正铁矿泉为科技晟达菲尔健康营养乳制鲁南超算" \
        "心建石英玻璃光子远大矿锂电设备济创气凝硅重金属捕捉剂医动转移深圳回收利用智能装备机器人"


def name(rng) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(5, 9))) + "有限公司"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--dups", type=int, default=500)
    parser.add_argument("--existing", type=int, default=5000)
    args = parser.parse_args()
    from crm.extensions import db
    from crm.imports.reader import read_table
    from crm.imports.service import preview
    from crm.leads import services
    from tests import factories
    from tests.conftest import make_app

    rng = random.Random(1)
    folder = Path(tempfile.mkdtemp())
    app = make_app(folder, f"sqlite:///{folder / 'b.sqlite3'}")
    with app.app_context():
        db.create_all()
        world = factories.build_world()
        held = []
        for i in range(args.existing):
            company = f"{name(rng)}{i}"
            held.append(company)
            services.create_lead(world.admin, {"name": f"p{i}", "company": company,
                                               "township_id": world.a.id,
                                               "investment_wan": Decimal(100)})
            if i % 1000 == 999:
                db.session.commit()
        db.session.commit()
        times = {}
        for label, dups in (("without", 0), ("with", args.dups)):
            path = folder / f"{label}.csv"
            lines = ["项目名称,投资方,计划投资(万元),所属镇街"]
            for i in range(args.rows):
                company = f"（山东）{held[i]}" if i < dups else f"{name(rng)}新{i}"
                lines.append(f"导入{i},{company},100,税郭镇")
            path.write_text("\n".join(lines), encoding="utf-8")
            started = time.perf_counter()
            results = preview(world.admin, read_table(path))
            times[label] = time.perf_counter() - started
            flagged = sum(1 for r in results if r.dispute)
            print(f"{label:8} duplicates: {dups:5}  flagged {flagged:5}  {times[label]:.2f} s")
            assert flagged == dups, flagged
        print(f"ratio with/without: {times['with'] / times['without']:.2f}")


if __name__ == "__main__":
    main()
