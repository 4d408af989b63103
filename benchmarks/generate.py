"""Generate a province-sized database: a fresh schema by the migrations, then realistic data in bulk.

    python benchmarks/generate.py --size 100000 --db sqlite|postgresql [--url URL] [--seed 1]

``--size`` is the number of leads; there is one unit per 50 leads, a head and two or three officers
per unit, about ten visits per lead, stage histories that end at each lead's stage, contacts,
helpers, blockers, capital arrivals and this year's targets for every unit. Dates run from
1 January two years ago to today (Asia/Shanghai), so the same seed on the same day gives the same
database. SQLite goes to ``benchmarks/.data/bench_<N>.sqlite3``; PostgreSQL to a database
``crm_bench_<N>`` on the server of ``--url`` (dropped and created anew).

Rows are written with explicit ids in batches (SQLite: executemany; PostgreSQL: COPY), as the
database stores them (dates, naive UTC timestamps, amounts as scaled integers; see crm.columns).
"""

import argparse
import bisect
import datetime as dt
import math
import random
import secrets
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT / "benchmarks" / ".data"
DEFAULT_PG = "postgresql+psycopg://crm:crm@127.0.0.1:5432/"
#: Every generated user's password (one hash, computed once).
PASSWORD = "bench-pass-2026"
TZ = ZoneInfo("Asia/Shanghai")
LEADS_PER_UNIT = 50
BATCH = 20_000

INDUSTRY_CHAINS = {
    "新材料": ("功能材料", "先进陶瓷", "气凝胶", "高分子材料", "石英材料"),
    "智能装备/机器人": ("工业机器人", "核心零部件", "焊接装备", "专用车", "数控机床"),
    "健康食品": ("功能食品", "宠物食品", "饮品", "预制菜", "乳制品"),
    "新能源/光伏": ("光伏组件", "锂电池", "储能", "电池回收", "氢能"),
    "数字经济": ("算力", "软件服务", "电子商务", "数据中心", "物联网"),
    "纺织服装": ("纺纱", "印染", "服装", "家纺", "产业用纺织品"),
    "铁精粉加工": ("采选", "球团", "贸易物流", "冶金辅料", "尾矿利用"),
    "生物医药": ("原料药", "医疗器械", "中药", "生物制剂", "医用耗材"),
    "现代服务业": ("现代物流", "商贸综合体", "文旅", "养老服务", "总部经济"),
    "精密制造": ("轴承", "数控加工", "模具", "精密铸件", "传动部件"),
}
PRODUCTS = {
    "新材料": ("石英玻璃", "气凝硅", "碳纤维复合材料", "高性能树脂", "特种陶瓷"),
    "智能装备/机器人": ("智能机器人", "焊接机器人工作站", "专用车", "精密减速器", "智能输送装备"),
    "健康食品": ("宠物食品", "功能性健康食品", "植物蛋白饮品", "预制菜中央厨房", "乳制品"),
    "新能源/光伏": ("异质结光伏组件", "锂电池回收利用", "储能电站", "矿用锂电设备", "氢燃料电池"),
    "数字经济": ("超算中心", "大数据产业园", "跨境电商基地", "智慧物流平台", "软件外包中心"),
    "纺织服装": ("高支精梳纱线", "功能性面料", "智能化纺织", "服装加工", "家纺产品"),
    "铁精粉加工": ("铁精粉深加工", "球团", "铁矿采选", "尾矿综合利用", "仓储物流"),
    "生物医药": ("医用电动转移车", "原料药", "医用敷料", "体外诊断试剂", "中药饮片"),
    "现代服务业": ("商贸综合体", "冷链物流园", "文旅小镇", "康养中心", "总部基地"),
    "精密制造": ("精密轴承", "数控精密零部件", "精密模具", "传动部件", "精密铸件"),
}
PROJECT_SUFFIXES = ("项目", "生产基地", "产业园", "生产线", "扩产项目", "研发制造项目", "智能化改造项目")
ORIGINS = ("深圳", "天津", "上海", "北京", "杭州", "苏州", "宁波", "青岛", "济南", "烟台", "临沂",
           "潍坊", "枣庄", "徐州", "南京", "广州", "合肥", "郑州", "武汉", "成都", "重庆", "西安",
           "厦门", "无锡", "常州", "绍兴", "日照", "济宁", "唐山", "香港")
SOURCE_WEIGHTS = {"referral": 25, "enterprise": 20, "industry_chain": 20, "capital": 6,
                  "resident": 6, "fair": 8, "agent": 7, "other": 8}
VISIT_KIND_WEIGHTS = {"visit": 35, "reception": 15, "meeting": 15, "call": 20, "inspection": 7,
                      "online": 8}
UNIT_KINDS = (("town", "镇", 45), ("subdistrict", "街道", 30), ("zone", "经济开发区", 8),
              ("bureau", "局", 17))
BUREAUS = ("发改局", "商务局", "工信局", "住建局", "行政审批服务局", "科技局", "农业农村局")
PLACE_PARTS = ("东", "西", "南", "北", "新", "安", "兴", "和", "平", "丰", "河", "山", "桥", "庄",
               "城", "湖", "集", "营", "阳", "泉", "石", "龙", "凤", "文", "福", "永", "昌", "台")
CADRES = ("镇长", "党委书记", "副镇长", "区委副书记", "副区长", "区委常委", "管委会主任", "局长")
TITLES = ("总经理", "董事长", "副总经理", "项目经理", "财务总监", "办公室主任", "投资总监")
SUMMARIES = (
    "与{c}负责人面谈，介绍园区用地和配套政策，对方对{p}落地意向较强。",
    "陪同投资方考察厂房及周边配套，就{p}用地规模和建设周期深入交流。",
    "电话沟通{p}进展，企业正在内部评估投资方案，约定下周再次对接。",
    "召开{p}专题洽谈会，双方就土地价格、税收贡献和投产时间达成初步共识。",
    "线上会议对接{c}，补充提交项目可研报告和环评材料清单。",
    "赴{o}拜访{c}总部，争取{p}尽快签约。",
    "接待{c}来访团队，参观标准化厂房，对方提出用电负荷需求。",
    "协调自然资源、住建部门现场办公，解决{p}手续办理中的问题。",
    "跟进{p}资金到位情况，企业反馈首期资金已落实。",
    "与帮包领导一同走访{c}，了解企业生产经营和扩产计划。",
)
NEXT_STEPS = ("准备投资协议文本", "安排领导带队回访", "协调用地指标", "对接供电公司", "梳理审批手续清单",
              "跟进企业内部决策", "组织专家论证", "落实首期资金", "")
BLOCKER_TEXT = {
    "land": ("用地指标尚未落实", "土地征收进度滞后", "规划调整待审批"),
    "power": ("用电负荷不足，需新建变电站", "双回路供电尚未接入"),
    "approval": ("环评批复待办", "施工许可手续办理中", "能评审查未通过"),
    "funding": ("企业融资未到位", "银行贷款审批延迟"),
    "other": ("配套道路未完工", "企业股权调整"),
}
OWNERS = ("自然资源局", "供电公司", "行政审批服务局", "生态环境分局", "住建局", "财政局", "")
CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: Chance per step that a lead moves on before today, and is lost instead.
MOVE_GAP_DAYS = {"contact": 75, "negotiation": 110, "signed": 80, "started": 220}
LOSE_CHANCE = {"contact": 0.22, "negotiation": 0.18, "signed": 0.04, "started": 0.02}
STALL_CHANCE = {"contact": 0.25, "negotiation": 0.25, "signed": 0.2, "started": 0.25}


def default_url(kind: str, size: int, url: str | None = None, name: str | None = None) -> str:
    """The URL of the benchmark database of ``size`` leads."""
    if kind == "sqlite":
        path = Path(name) if name else DATA_DIR / f"bench_{size}.sqlite3"
        return f"sqlite:///{path}"
    base = sa.engine.make_url(url or DEFAULT_PG)
    return base.set(database=name or f"crm_bench_{size}").render_as_string(hide_password=False)


def database_exists(url: str) -> bool:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database).exists()
    admin = sa.create_engine(parsed.set(database="postgres"))
    try:
        with admin.connect() as conn:
            return bool(conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                     {"n": parsed.database}).scalar())
    finally:
        admin.dispose()


def fresh_database(url: str) -> None:
    """Delete the SQLite file, or drop and create the PostgreSQL database."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    drop_database(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str) -> None:
    """Apply the Alembic migrations, as `crm db upgrade` does."""
    import logging

    import flask_migrate

    from crm import create_app

    app = create_app({
        "IGNORE_INSTANCE_FILE": True, "INSTANCE_PATH": str(DATA_DIR / "instance"),
        "CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "bench",
    })
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        flask_migrate.upgrade()
        from crm.extensions import db

        db.engine.dispose()


# -- values as the database stores them -----------------------------------------------------

def wan(amount) -> int:
    """万元 as stored by Fixed(4)."""
    return int(round(amount * 10_000))


def stamp(day: dt.date, rng: random.Random) -> dt.datetime:
    """A working-hours moment of a business day, as naive UTC (what UTCDateTime stores)."""
    local = dt.datetime(day.year, day.month, day.day, rng.randint(8, 18), rng.randint(0, 59),
                        rng.randint(0, 59), rng.randint(0, 999_999), tzinfo=TZ)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def credit_code(rng: random.Random) -> str:
    body = "91" + "".join(rng.choice(CODE_CHARS) for _ in range(15))
    total = sum(CODE_CHARS.index(c) * w for c, w in zip(body, CODE_WEIGHTS, strict=True))
    return body + CODE_CHARS[(31 - total % 31) % 31]


def phone(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


# -- writing ---------------------------------------------------------------------------------

class Writer:
    """Bulk inserts of tuples: executemany on SQLite, COPY on PostgreSQL; counts what it wrote."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self.kind = conn.dialect.name
        self.counts: dict[str, int] = {}

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        cols = ", ".join(columns)
        if self.kind == "postgresql":
            cursor = self.conn.connection.dbapi_connection.cursor()
            with cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.close()
            return
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        converted = [tuple(_sqlite_value(v) for v in row) for row in rows]
        for start in range(0, len(converted), BATCH):
            self.conn.exec_driver_sql(sql, converted[start:start + BATCH])


def _sqlite_value(value):
    """What SQLAlchemy's SQLite types store: ISO dates, 'YYYY-MM-DD HH:MM:SS.ffffff', 0/1."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


# -- the data --------------------------------------------------------------------------------

class Province:
    """Builds the rows; every choice comes from one seeded Random (and a seeded Faker)."""

    def __init__(self, size: int, seed: int, today: dt.date):
        from faker import Faker

        from crm.leads.validation import company_key

        self.size, self.today = size, today
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.company_key = company_key
        self.start = dt.date(today.year - 2, 1, 1)
        self.span = (today - self.start).days
        n_people = min(4000, max(200, size // 10))
        self.people = [self.fake.name() for _ in range(n_people)]
        self.companies = [self.fake.company() for _ in range(min(30_000, max(500, size // 3)))]
        self.prefixes = [self.fake.company_prefix() for _ in range(2000)]
        self.cities = sorted({self.fake.city_name() for _ in range(400)})
        self.sources = list(SOURCE_WEIGHTS)
        self.source_cum = _cumulative(SOURCE_WEIGHTS.values())
        self.visit_kinds = list(VISIT_KIND_WEIGHTS)
        self.visit_cum = _cumulative(VISIT_KIND_WEIGHTS.values())
        self.ids = {"stage_changes": 0, "visits": 0, "contacts": 0, "blockers": 0,
                    "fund_entries": 0, "targets": 0}

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def weighted(self, items, cumulative):
        return items[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    def day_between(self, first: dt.date, last: dt.date) -> dt.date:
        if last <= first:
            return first
        return first + dt.timedelta(days=self.rng.randint(0, (last - first).days))

    # units and users

    def units(self) -> list[tuple]:
        rng, taken, rows = self.rng, set(), []
        n_units = max(2, math.ceil(self.size / LEADS_PER_UNIT))
        kinds = [k for k, _s, _w in UNIT_KINDS]
        kind_cum = _cumulative(w for _k, _s, w in UNIT_KINDS)
        suffixes = {k: s for k, s, _w in UNIT_KINDS}
        created = stamp(self.start, rng)
        for unit_id in range(1, n_units + 1):
            kind = self.weighted(kinds, kind_cum)
            for attempt in range(50):
                city = rng.choice(self.cities)
                if kind == "bureau":
                    name = f"{city}{rng.choice(BUREAUS)}"
                elif kind == "zone":
                    name = f"{city}{rng.choice(PLACE_PARTS)}{suffixes[kind]}"
                else:
                    name = f"{city}{rng.choice(PLACE_PARTS)}{rng.choice(PLACE_PARTS)}{suffixes[kind]}"
                if attempt > 40:
                    name = f"{name}{unit_id}"
                if name not in taken:
                    break
            taken.add(name)
            rows.append((unit_id, name, kind, created))
        return rows

    def users(self, units, password_hash: str):
        """(rows, heads by unit, officers by unit); a few admins and viewers besides."""
        from crm.auth.names import username_key

        rng, rows = self.rng, []
        heads: dict[int, int] = {}
        officers: dict[int, list[int]] = {}
        created = stamp(self.start, rng)
        n_admins = max(2, self.size // 25_000)

        def add(username, role, unit_id):
            user_id = len(rows) + 1
            rows.append((user_id, username, username_key(username), rng.choice(self.people),
                         f"{username}@example.com", role, unit_id, True, password_hash, "zh_CN",
                         True, True, secrets.token_hex(8), created))
            return user_id

        for i in range(1, n_admins + 1):
            add(f"bench-admin-{i}", "district_admin", None)
            add(f"bench-viewer-{i}", "viewer", None)
        for unit_id, *_rest in units:
            heads[unit_id] = add(f"t{unit_id:05d}-head", "township_head", unit_id)
            officers[unit_id] = [add(f"t{unit_id:05d}-{k}", "officer", unit_id)
                                 for k in range(1, rng.choice((3, 4)))]
        return rows, heads, officers

    # a lead and everything that hangs off it

    def history(self, created_on: dt.date):
        """[(stage, date, implied, lost_reason)] from creation to today, and the final stage."""
        rng = self.rng
        first = rng.choices(("contact", "negotiation", "signed", "started"), (78, 14, 6, 2))[0]
        order = ("contact", "negotiation", "signed", "started", "producing")
        steps = [(s, created_on, s != first, None) for s in order[: order.index(first) + 1]]
        stage, on = first, created_on
        while stage != "producing":
            if rng.random() < STALL_CHANCE[stage]:
                break
            on = on + dt.timedelta(days=max(1, int(rng.expovariate(1 / MOVE_GAP_DAYS[stage]))))
            if on > self.today:
                break
            if rng.random() < LOSE_CHANCE[stage]:
                steps.append(("lost", on, False, rng.choice(_lost_reasons())))
                return steps, "lost"
            target = order.index(stage) + (2 if rng.random() < 0.05 and stage != "started" else 1)
            for code in order[order.index(stage) + 1: target + 1]:
                steps.append((code, on, order.index(code) != target, None))
            stage = order[target]
        return steps, stage

    def lead(self, lead_id, unit_id, heads, officers):
        rng = self.rng
        today = self.today
        # Recent years hold more leads (a growing pipeline).
        created_on = self.start + dt.timedelta(days=int(self.span * math.sqrt(rng.random())))
        steps, stage = self.history(created_on)
        entered = {}
        for code, on, _implied, _reason in steps:
            entered.setdefault(code, on)
        lost_on = steps[-1][1] if stage == "lost" else None
        industry = rng.choice(list(INDUSTRY_CHAINS))
        prefix = rng.choice(self.prefixes)
        company = f"{rng.choice(ORIGINS)}{rng.choice(self.companies)}"
        name = f"{prefix}{rng.choice(PRODUCTS[industry])}{rng.choice(PROJECT_SUFFIXES)}"
        investment = max(100, round(math.exp(rng.gauss(math.log(9000), 1.25)), -2))
        if rng.random() < 0.01:
            investment = rng.randrange(500_000, 1_200_000, 10_000)
        unit_officers = officers[unit_id]
        roll = rng.random()
        primary = (None if roll < 0.03 else heads[unit_id] if roll < 0.12
                   else rng.choice(unit_officers))
        helpers = []
        if rng.random() < 0.35 and len(unit_officers) > 1:
            helper = rng.choice([o for o in unit_officers if o != primary])
            helpers.append(helper)
        actors = [u for u in (primary, *helpers) if u] or [heads[unit_id]]

        sign = start = production = None
        if stage == "contact" and rng.random() < 0.4:
            sign = today + dt.timedelta(days=rng.randint(30, 300))
        elif stage == "negotiation" or (stage == "lost" and "signed" not in entered):
            sign = today + dt.timedelta(days=rng.randint(-120, 240))
        elif stage in ("signed", "started", "producing", "lost"):
            sign = entered.get("signed")
        if sign is not None and stage != "contact":
            if stage == "signed":
                start = max(sign, today + dt.timedelta(days=rng.randint(-100, 200)))
            elif "started" in entered:
                start = entered["started"]
            elif rng.random() < 0.7:
                start = sign + dt.timedelta(days=rng.randint(30, 180))
            if start is not None:
                if "producing" in entered:
                    production = max(start, entered["producing"])
                elif stage == "started":
                    production = max(start, today + dt.timedelta(days=rng.randint(-80, 360)))
                elif rng.random() < 0.6:
                    production = start + dt.timedelta(days=rng.randint(120, 540))
        included = None
        if "started" in entered and stage != "lost" and rng.random() < 0.7:
            included = self.day_between(entered["started"], today)

        # visits, newest last
        end = lost_on or today
        n_visits = rng.randint(5, 15)
        days = sorted(self.day_between(created_on, end) for _ in range(n_visits))
        active = stage not in ("producing", "lost")
        follow_up = None
        if active and rng.random() < 0.85:
            follow_up = max(days[-1], today + dt.timedelta(days=rng.randint(-45, 30)))
        visits = []
        contact_name = rng.choice(self.people)
        for i, on in enumerate(days):
            at = stamp(on, rng)
            nfu = follow_up if i == n_visits - 1 else (
                on + dt.timedelta(days=rng.randint(7, 30)) if rng.random() < 0.3 else None)
            summary = rng.choice(SUMMARIES).format(c=company, p=name, o=rng.choice(ORIGINS))
            visits.append((self.next_id("visits"), lead_id, unit_id, rng.choice(actors), on,
                           self.weighted(self.visit_kinds, self.visit_cum), summary,
                           rng.choice(NEXT_STEPS), nfu,
                           rng.choice(self.people) if rng.random() < 0.15 else "", at, at))

        creator = primary or heads[unit_id]
        changes, previous = [], None
        for code, on, implied, lost_reason in steps:
            changes.append((self.next_id("stage_changes"), lead_id, previous, code, on, implied,
                            creator, "", lost_reason, stamp(on, rng)))
            previous = code

        funds, arrived = [], 0
        if "signed" in entered and stage != "lost" and rng.random() < 0.65:
            budget = investment * rng.uniform(0.2, 0.9)
            for _ in range(rng.randint(1, 4)):
                amount = max(10, round(budget * rng.uniform(0.1, 0.4), -1))
                on = self.day_between(entered["signed"], today)
                funds.append((self.next_id("fund_entries"), lead_id, on, wan(amount), creator,
                              stamp(on, rng)))
                arrived += amount
        blockers = []
        if stage in ("signed", "started") and rng.random() < 0.18:
            for _ in range(rng.randint(1, 2)):
                kind = rng.choice(list(BLOCKER_TEXT))
                opened = self.day_between(entered["signed"], today)
                resolved = self.day_between(opened, today) if rng.random() < 0.5 else None
                blockers.append((self.next_id("blockers"), lead_id, kind,
                                 rng.choice(BLOCKER_TEXT[kind]), rng.choice(OWNERS), opened,
                                 resolved, "已协调解决" if resolved else "", creator,
                                 stamp(opened, rng)))
        contacts = [(self.next_id("contacts"), lead_id, contact_name, rng.choice(TITLES),
                     phone(rng))]
        if rng.random() < 0.4:
            contacts.append((self.next_id("contacts"), lead_id, rng.choice(self.people),
                             rng.choice(TITLES), phone(rng)))

        last_change = steps[-1][1]
        updated = max(visits[-1][10], changes[-1][9])
        land = round(rng.uniform(10, 600), 2) if rng.random() < 0.6 else None
        output = round(investment * rng.uniform(0.5, 2.5), -1) if rng.random() < 0.6 else None
        tax = round(output * rng.uniform(0.03, 0.1), -1) if output else None
        lead = (
            lead_id, name[:200], company[:200], self.company_key(company),
            credit_code(rng) if rng.random() < 0.45 else None, rng.choice(ORIGINS), industry,
            rng.choice(INDUSTRY_CHAINS[industry]), self.weighted(self.sources, self.source_cum),
            wan(investment), None if land is None else int(round(land * 100)),
            None if output is None else wan(output), None if tax is None else wan(tax),
            rng.randint(20, 1500) if rng.random() < 0.6 else None, wan(arrived), stage,
            last_change, steps[-1][3], created_on, unit_id, primary,
            f"{rng.choice(CADRES)} {rng.choice(self.people)}" if rng.random() < 0.5 else "",
            contact_name, contacts[0][4], follow_up, days[-1], sign, start, production, included,
            "", 1, creator, stamp(created_on, rng), updated,
        )
        officers_rows = [(lead_id, h) for h in helpers]
        return lead, changes, visits, funds, blockers, contacts, officers_rows

    def targets(self, units) -> list[tuple]:
        rng, rows, year = self.rng, [], self.today.year
        per_year = LEADS_PER_UNIT / 3 * 1.15
        for unit_id, *_rest in units:
            values = {
                "new_leads": round(per_year * rng.uniform(0.8, 1.4)),
                "signed_100m": rng.randint(1, 5),
                "visits": round(per_year * 10 * rng.uniform(0.7, 1.3), -1),
            }
            optional = {
                "signed_1b": rng.randint(0, 2), "signed_5b": 1, "started_100m": rng.randint(1, 4),
                "producing": rng.randint(1, 3),
                "signed_investment_wan": round(rng.uniform(20_000, 150_000), -3),
                "funds_arrived_wan": round(rng.uniform(10_000, 80_000), -3),
            }
            for metric in rng.sample(list(optional), rng.randint(2, 5)):
                values[metric] = optional[metric]
            for metric, value in values.items():
                rows.append((self.next_id("targets"), unit_id, year, metric, wan(value)))
        return rows


def _cumulative(weights) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _lost_reasons():
    from crm.leads.pipeline import LOST_REASONS

    return LOST_REASONS


LEAD_COLUMNS = (
    "id", "name", "company", "company_key", "credit_code", "origin", "industry", "chain", "source",
    "investment_wan", "land_mu", "expected_output_wan", "expected_tax_wan", "jobs",
    "funds_arrived_wan", "stage", "stage_changed_on", "lost_reason", "created_on", "township_id",
    "primary_officer_id", "sponsor", "contact_name", "contact_phone", "next_follow_up",
    "last_visit_on", "planned_sign_date", "planned_start_date", "planned_production_date",
    "stats_included_on", "notes", "version", "created_by_id", "created_at", "updated_at",
)
COLUMNS = {
    "townships": ("id", "name", "kind", "created_at"),
    "users": ("id", "username", "username_key", "display_name", "email", "role", "township_id", "active",
              "password_hash", "locale", "reminder_daily", "reminder_weekly", "session_nonce",
              "created_at"),
    "leads": LEAD_COLUMNS,
    "stage_changes": ("id", "lead_id", "from_stage", "to_stage", "effective_on", "implied",
                      "user_id", "reason", "lost_reason", "created_at"),
    "visits": ("id", "lead_id", "township_id", "user_id", "visited_on", "kind", "summary",
               "next_step", "next_follow_up", "participants", "created_at", "updated_at"),
    "fund_entries": ("id", "lead_id", "arrived_on", "amount_wan", "user_id", "created_at"),
    "blockers": ("id", "lead_id", "kind", "description", "owner", "opened_on", "resolved_on",
                 "resolution", "created_by_id", "created_at"),
    "contacts": ("id", "lead_id", "name", "title", "phone"),
    "lead_officers": ("lead_id", "user_id"),
    "targets": ("id", "township_id", "year", "metric", "value"),
}
#: Tables that hold the generated rows, in the order they are written.
TABLES = tuple(COLUMNS)


def business_today() -> dt.date:
    return dt.datetime.now(TZ).date()


def generate(size: int, kind: str, *, url: str | None = None, seed: int = 1,
             name: str | None = None, today: dt.date | None = None, quiet: bool = False) -> dict:
    """Build the database; returns {"url", "counts", "elapsed"}."""
    from werkzeug.security import generate_password_hash

    began = time.perf_counter()
    target = default_url(kind, size, url, name)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    fresh_database(target)
    migrate(target)
    say(f"schema migrated in {time.perf_counter() - began:.1f} s")
    province = Province(size, seed, today or business_today())
    engine = sa.create_engine(target)
    chunk = 2000
    with engine.begin() as conn:
        if kind == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        writer = Writer(conn)
        units = province.units()
        writer.write("townships", COLUMNS["townships"], units)
        password_hash = generate_password_hash(PASSWORD)
        users, heads, officers = province.users(units, password_hash)
        writer.write("users", COLUMNS["users"], users)
        lead_id = 0
        for first in range(0, size, chunk):
            batch = {t: [] for t in TABLES if t not in ("townships", "users", "targets")}
            for _ in range(min(chunk, size - first)):
                lead_id += 1
                # Leads are spread over the units in turn, some units a little busier.
                unit_id = units[(lead_id - 1) % len(units)][0]
                if province.rng.random() < 0.2:
                    unit_id = units[province.rng.randrange(len(units))][0]
                parts = province.lead(lead_id, unit_id, heads, officers)
                for table, rows in zip(("leads", "stage_changes", "visits", "fund_entries",
                                        "blockers", "contacts", "lead_officers"), parts,
                                       strict=True):
                    if table == "leads":
                        batch[table].append(rows)
                    else:
                        batch[table].extend(rows)
            for table in ("leads", "lead_officers", "contacts", "stage_changes", "visits",
                          "fund_entries", "blockers"):
                writer.write(table, COLUMNS[table], batch[table])
            if not quiet and (first // chunk) % 10 == 9:
                say(f"  {lead_id} leads written ({time.perf_counter() - began:.0f} s)")
        writer.write("targets", COLUMNS["targets"], province.targets(units))
        link_industries_and_credit(conn)
        if kind == "postgresql":
            for table in TABLES:
                if "id" in COLUMNS[table]:
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
    link_companies(target)
    if kind == "postgresql":
        # What autovacuum would soon do after a bulk load: statistics and the visibility map.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    elapsed = time.perf_counter() - began
    return {"url": target, "counts": writer.counts, "elapsed": elapsed}


def link_industries_and_credit(conn) -> None:
    """What the services would have set: each lead's managed industry (by name or alias, from
    the list migration 0012 installs) and each stage change's credit to the lead's primary
    officer (the generated leads are never reassigned)."""
    from crm.industries.lookup import key

    ids = {}
    for industry_id, name, aliases in conn.execute(sa.text(
            "SELECT id, name, aliases FROM industries ORDER BY sort_order, id")):
        for text in (name, *aliases.split("\n")):
            ids.setdefault(key(text), industry_id)
    for text in INDUSTRY_CHAINS:
        if key(text) in ids:
            conn.execute(sa.text("UPDATE leads SET industry_id = :i WHERE industry = :t"),
                         {"i": ids[key(text)], "t": text})
    conn.execute(sa.text(
        "UPDATE stage_changes SET credited_officer_id = "
        "(SELECT primary_officer_id FROM leads WHERE leads.id = stage_changes.lead_id)"))


def link_companies(url: str) -> None:
    """Each lead's company, made as migration 0011 makes them for an installed district (one per
    credit code, else per normalised name): the generator writes leads with none. Once: a
    database whose leads have their companies is left alone."""
    import importlib.util

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.execute(sa.text("SELECT 1 FROM leads WHERE company_id IS NOT NULL "
                                    "LIMIT 1")).first():
                return
            conn.execute(sa.text("DELETE FROM companies"))  # none has a lead
            path = ROOT / "migrations" / "versions" / "0011_companies_and_disputes.py"
            spec = importlib.util.spec_from_file_location("migration_0011", path)
            migration = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(migration)
            with Operations.context(MigrationContext.configure(conn)):
                migration._build_companies()
    finally:
        engine.dispose()


def row_counts(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in TABLES}
    engine.dispose()
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="number of leads")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help=f"PostgreSQL server URL (default {DEFAULT_PG})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", help="SQLite file or PostgreSQL database name (default by size)")
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error("--size must be at least 1")
    result = generate(args.size, args.db, url=args.url, seed=args.seed, name=args.name)
    print(f"database: {sa.engine.make_url(result['url']).render_as_string(hide_password=True)}")
    for table, n in row_counts(result["url"]).items():
        print(f"  {table:<14} {n:>10,}")
    print(f"generated in {result['elapsed']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
