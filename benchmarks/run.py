"""Measure the app on a province-sized database, each figure beside its target (issue 7).

    python benchmarks/run.py --size 100000 --db sqlite|postgresql [--reuse] [--repeat 20]

Generates the database (``generate.py``, in a child process so its memory does not count) unless
``--reuse`` finds it, builds the app on it (CRM_DATABASE_URL) and times, in this process with the
Flask test client: the stats API as a district admin, the district overview, a unit page, a unit's
board, the filtered lead list, a lead page and posting a visit, each signed in through the real
/login form; the 待核验 queue (10,000 pending claims) and posting a review as a reviewer; then
the bare SQL the stats API runs, the worker's memory, the weekly reminder run for 1,000 users into
a local SMTP server, and an import of 10,000 rows. Last, the number of SQL queries of each page
here and on a tiny database of the same kind. The database is left as it was generated (what the
run adds is deleted), so ``--reuse`` measures the same data again.

The generated milestones get their claims once (``ensure_claims``, bulk SQL): verified history,
as the migration makes them for an installed district, except the latest 10,000 stage claims,
pending (the queue); and a reviewer is added. The statistics count on the verified basis (the
setting CRM_VERIFICATION's default).
"""

import argparse
import datetime as dt
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import generate  # noqa: E402
import measure  # noqa: E402
from measure import Figure  # noqa: E402

TINY = 500
PENDING_CLAIMS = 10_000
REVIEWER = "bench-reviewer"
REMINDER_USERS = 1000
IMPORT_ROWS = 10_000
#: Issue 21's targets: a page's median ≤ 100 ms and its p95 ≤ 150 ms; the stats API with the
#: cache empty ≤ 1 s and ≤ 3× its bare SQL; the weekly run ≤ 10 s; an import of 10,000 rows ≤ 5 s.
TARGETS = {"api": 0.250, "page": 0.100, "page_p95": 0.150, "post": 0.050, "ratio": 3.0,
           "cold": 1.0, "reminders": 10.0, "import": 5.0, "memory": 300.0}
#: What the new pages list, made once per database (``ensure_workload``): 督办 orders, open
#: 撞单 disputes and one published bulletin.
WORKLOAD = {"orders": 2_000, "disputes": 1_000}


def ensure_database(size: int, kind: str, url: str | None, seed: int, reuse: bool) -> str:
    target = generate.default_url(kind, size, url)
    if reuse and generate.database_exists(target) and _has_leads(target):
        generate.migrate(target)  # a database made before a new migration gets it, as on upgrade
        generate.link_companies(target)  # and one made before the generator linked companies
        return target
    command = [sys.executable, str(Path(generate.__file__)), "--size", str(size), "--db", kind,
               "--seed", str(seed)] + (["--url", url] if url else [])
    print(f"generating {size} leads on {kind} …", flush=True)
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    return target


def ensure_claims(url: str, pending: int = PENDING_CLAIMS) -> dict:
    """The claims of the generated milestones, made once by bulk SQL: each lead's first entry
    into signed, started and producing, its 纳统 date and each capital entry, verified on its
    effective date (as the migration makes history), with the system's review; then the latest
    ``pending`` stage claims pending again. Claims by status."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if not conn.execute(sa.text("SELECT COUNT(*) FROM claims")).scalar():
                print("making the claims of the generated milestones …", flush=True)
                now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                insert = ("INSERT INTO claims (lead_id, township_id, kind, effective_on, "
                          "amount_wan, fund_entry_id, status, submitted_by_id, submitted_at, "
                          "decided_at, verified_on) ")
                conn.execute(sa.text(
                    insert + "SELECT sc.lead_id, l.township_id, sc.to_stage, "
                    "MIN(sc.effective_on), NULL, NULL, 'verified', NULL, :now, :now, "
                    "MIN(sc.effective_on) FROM stage_changes sc JOIN leads l ON l.id = sc.lead_id "
                    "WHERE sc.to_stage IN ('signed', 'started', 'producing') "
                    "GROUP BY sc.lead_id, l.township_id, sc.to_stage"), {"now": now})
                conn.execute(sa.text(
                    insert + "SELECT id, township_id, 'stats_included', stats_included_on, NULL, "
                    "NULL, 'verified', NULL, :now, :now, stats_included_on FROM leads "
                    "WHERE stats_included_on IS NOT NULL"), {"now": now})
                conn.execute(sa.text(
                    insert + "SELECT f.lead_id, l.township_id, 'funds', f.arrived_on, "
                    "f.amount_wan, f.id, 'verified', NULL, :now, :now, f.arrived_on "
                    "FROM fund_entries f JOIN leads l ON l.id = f.lead_id"), {"now": now})
                conn.execute(sa.text(
                    "UPDATE claims SET status = 'pending', decided_at = NULL, verified_on = NULL "
                    "WHERE id IN (SELECT id FROM claims WHERE kind IN "
                    "('signed', 'started', 'producing') ORDER BY effective_on DESC, id DESC "
                    "LIMIT :n)"), {"n": pending})
                conn.execute(sa.text(
                    "INSERT INTO claim_reviews (claim_id, decision, opinion, by_id, at) "
                    "SELECT id, 'verify', '历史数据', NULL, :now FROM claims "
                    "WHERE status = 'verified'"), {"now": now})
                # written beside the ORM: no unit's version was bumped
                conn.execute(sa.text("DELETE FROM stats_cache"))
            return dict(conn.execute(sa.text(
                "SELECT status, COUNT(*) FROM claims GROUP BY status")).all())
    finally:
        engine.dispose()


def ensure_reviewer(app) -> None:
    """A reviewer (区投促局 审核员) to measure the queue and the review as."""
    from crm.auth.models import User
    from crm.auth.services import create_user
    from crm.extensions import db

    with app.app_context():
        if db.session.scalar(sa.select(User.id).where(User.username == REVIEWER)) is None:
            create_user(REVIEWER, role="reviewer", email="reviewer@bench.example",
                        password=generate.PASSWORD, township=None, display_name="审核员")
            db.session.commit()


def ensure_workload(app, orders: int, disputes: int) -> None:
    """Once per database: ``orders`` 督办 orders on the most overdue live leads (a quarter red,
    a third answered or closed), ``disputes`` open 撞单 disputes between leads of one company in
    two units (the later lead disputed) and one published bulletin (yesterday's)."""
    from crm.auth.models import User
    from crm.bulletin import issues
    from crm.bulletin.models import BulletinIssue
    from crm.clock import today, utcnow
    from crm.companies.models import Dispute
    from crm.extensions import db
    from crm.leads.models import Lead
    from crm.supervision.models import SupervisionOrder

    with app.app_context():
        if db.session.scalar(sa.select(sa.func.count()).select_from(SupervisionOrder)):
            return
        print("making the 督办 orders, 撞单 disputes and a published bulletin …", flush=True)
        admin = db.session.scalar(sa.select(User).where(User.role == "district_admin")
                                  .order_by(User.id))
        day, now = today(), utcnow()
        leads = db.session.execute(
            sa.select(Lead.id, Lead.township_id).where(Lead.stage.in_(("contact", "negotiation")))
            .order_by(Lead.planned_sign_date, Lead.id).limit(orders)).all()
        db.session.execute(sa.insert(SupervisionOrder), [{
            "lead_id": lead_id, "township_id": unit_id, "year": day.year, "number": n + 1,
            "level": "red" if n % 4 == 0 else "yellow", "reason": "签约逾期，请说明进度",
            "issued_on": day - dt.timedelta(days=n % 30),
            "due_on": day - dt.timedelta(days=n % 30) + dt.timedelta(days=7),
            "status": ("open", "open", "answered", "closed")[n % 4],
            "issued_by_id": admin.id, "closed_note": "", "created_at": now}
            for n, (lead_id, unit_id) in enumerate(leads)])
        by_company: dict[int, list] = {}
        for company_id, lead_id, unit_id in db.session.execute(
                sa.select(Lead.company_id, Lead.id, Lead.township_id)
                .where(Lead.company_id.is_not(None), Lead.stage != "lost")
                .order_by(Lead.company_id, Lead.id)):
            by_company.setdefault(company_id, []).append((lead_id, unit_id))
        pairs = []
        for items in by_company.values():
            (first, first_unit), *later = items
            second = next((lead_id for lead_id, unit_id in later if unit_id != first_unit), None)
            if second is not None and len(pairs) < disputes:
                pairs.append((first, second))
        db.session.execute(sa.insert(Dispute), [
            {"first_lead_id": first, "second_lead_id": second, "status": "open", "note": "",
             "created_at": now} for first, second in pairs])
        db.session.execute(sa.update(Lead).where(Lead.id.in_([second for _f, second in pairs]))
                           .values(ownership="disputed"))
        db.session.execute(sa.text("DELETE FROM stats_cache"))  # written beside the ORM
        db.session.commit()
        if db.session.scalar(sa.select(sa.func.count()).select_from(BulletinIssue)) == 0:
            issues.publish(admin, day - dt.timedelta(days=1))
            db.session.commit()


def _has_leads(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT COUNT(*) FROM leads")).scalar())
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def build_app(url: str, smtp_port: int = 25):
    from crm import create_app

    os.environ["CRM_DATABASE_URL"] = url
    return create_app({
        "IGNORE_INSTANCE_FILE": True,
        "INSTANCE_PATH": str(generate.DATA_DIR / "instance"),
        "CRM_DATABASE_URL": url,
        "CRM_SECRET_KEY": "bench-secret",
        "CRM_MAIL_BACKEND": "smtp",
        "CRM_SMTP_HOST": "127.0.0.1",
        "CRM_SMTP_PORT": smtp_port,
        "CRM_BASE_URL": "https://crm.example.gov.cn",
        "CRM_IMPORT_MAX_ROWS": IMPORT_ROWS,
        # the template's 28 columns: 280,000 cells, read in more than the product's 10 s
        "CRM_IMPORT_MAX_CELLS": IMPORT_ROWS * 40,
        "CRM_IMPORT_MAX_SECONDS": 120,
    })


class Subjects:
    """Who and what the pages are measured on: a unit of median size, its head and an officer,
    the officer's busiest signed or started lead, a district admin, the investor with the most
    leads and the latest published bulletin."""

    def __init__(self, app):
        from crm.auth.models import User
        from crm.bulletin.models import BulletinIssue
        from crm.extensions import db
        from crm.leads.models import Lead
        from crm.visits.models import Visit

        with app.app_context():
            sizes = db.session.execute(
                sa.select(Lead.township_id, sa.func.count()).group_by(Lead.township_id)
                .order_by(sa.func.count(), Lead.township_id)).all()
            self.unit_id, self.unit_leads = sizes[len(sizes) // 2]
            users = db.session.scalars(sa.select(User).where(User.township_id == self.unit_id)
                                       .order_by(User.id)).all()
            self.head = next(u.username for u in users if u.role == "township_head")
            officer = next(u for u in users if u.role == "officer")
            self.officer = officer.username
            self.admin = db.session.scalar(sa.select(User.username).where(
                User.role == "district_admin").order_by(User.id))
            self.lead_id = db.session.scalar(
                sa.select(Lead.id).join(Visit, Visit.lead_id == Lead.id)
                .where(Lead.primary_officer_id == officer.id,
                       Lead.stage.in_(("signed", "started")))  # with claims on its page
                .group_by(Lead.id).order_by(sa.func.count(Visit.id).desc(), Lead.id).limit(1))
            lead = db.session.get(Lead, self.lead_id)
            self.word = lead.company[-6:-4]  # a word of a company name, as a user would search
            self.industry = lead.industry
            self.company_id = db.session.scalar(  # the investor with the most leads
                sa.select(Lead.company_id).where(Lead.company_id.is_not(None))
                .group_by(Lead.company_id).order_by(sa.func.count().desc(), Lead.company_id)
                .limit(1))
            self.issue_id = db.session.scalar(sa.select(BulletinIssue.id).order_by(
                BulletinIssue.id.desc()).limit(1))


def sign_in(app, username: str):
    """A test client signed in through the real /login form (with its CSRF token)."""
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": generate.PASSWORD,
                                           "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in of {username} failed ({response.status_code})")
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def api_token(app, username: str) -> str:
    from crm.auth.models import User
    from crm.auth.services import issue_token
    from crm.extensions import db

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        raw = issue_token(user, name="benchmark")
        db.session.commit()
    return raw


class Pages:
    """The measured requests: name → (callable doing one request, target)."""

    def __init__(self, app, s: Subjects):
        from crm.claims.models import Claim
        from crm.companies.models import Dispute
        from crm.extensions import db
        from crm.supervision.models import SupervisionOrder

        self.app, self.s = app, s
        admin, head, officer = sign_in(app, s.admin), sign_in(app, s.head), sign_in(app, s.officer)
        self.officer = officer
        ensure_reviewer(app)
        self.reviewer = sign_in(app, REVIEWER)
        with app.app_context():
            # the most recent pending claims: each review takes the next one
            self.to_review = list(db.session.scalars(
                sa.select(Claim.id).where(Claim.status == "pending")
                .order_by(Claim.id.desc()).limit(200)))
            pending = db.session.scalar(sa.select(sa.func.count()).select_from(Claim)
                                        .where(Claim.status == "pending"))
            disputes = db.session.scalar(sa.select(sa.func.count()).select_from(Dispute)
                                         .where(Dispute.status == "open"))
            orders = db.session.scalar(sa.select(sa.func.count()).select_from(SupervisionOrder))
        self.review_form = {"csrf_token": csrf_of(self.reviewer.get(
            f"/claims/{self.to_review[0]}").get_data(as_text=True)), "decision": "return",
            "opinion": "照片看不出开工迹象，请补充施工许可证。"}
        bearer = {"Authorization": f"Bearer {api_token(app, s.admin)}"}
        visit_token = csrf_of(officer.get(f"/leads/{s.lead_id}").get_data(as_text=True))
        today = dt.date.today().isoformat()
        visit = {"csrf_token": visit_token, "visited_on": today, "kind": "visit",
                 "summary": "电话沟通项目进展，企业正在内部评估投资方案，约定下周再次对接。",
                 "next_step": "跟进企业内部决策", "next_follow_up": "", "participants": ""}
        self.visit = visit

        def get(client, url, headers=None):
            return lambda: self.check(client.get(url, headers=headers), 200, url)

        page = (TARGETS["page"], TARGETS["page_p95"])

        self.items = {
            "stats API GET /api/v1/stats/townships": (
                get(admin, "/api/v1/stats/townships", bearer), TARGETS["api"], "district admin"),
            "district overview /stats/": (get(admin, "/stats/"), page, "district admin"),
            f"unit page /stats/unit/{s.unit_id}": (
                get(head, f"/stats/unit/{s.unit_id}"), page, "its head"),
            "board of one unit /board": (get(head, "/board"), page, "its head"),
            "lead list, province: filter + search": (
                get(admin, f"/leads/?stage=active&industry={s.industry}&q={s.word}&sort=investment"),
                page, "district admin"),
            "lead list, own unit: filter + search": (
                get(officer, f"/leads/?stage=active&q={s.word}&sort=follow_up"), page, "officer"),
            f"lead page /leads/{s.lead_id}": (get(officer, f"/leads/{s.lead_id}"), page, "officer"),
            "post a visit (the lead page's form)": (
                self.post_visit, TARGETS["post"], "officer"),
            "待核验 queue /claims/": (
                get(self.reviewer, "/claims/"), page, f"reviewer, {pending:,} pending"),
            "post a review (退回 with an opinion)": (
                self.post_review, TARGETS["post"], "reviewer"),
            "撞单 queue /disputes/": (
                get(self.reviewer, "/disputes/"), page, f"reviewer, {disputes:,} open"),
            "督办 list /supervision/": (
                get(admin, "/supervision/"), page, f"district admin, {orders:,} orders"),
            f"published bulletin /bulletins/{s.issue_id}": (
                get(admin, f"/bulletins/{s.issue_id}"), page, "district admin"),
            f"company page /companies/{s.company_id}": (
                get(admin, f"/companies/{s.company_id}"), page, "district admin"),
        }

    def post_review(self):
        claim_id = self.to_review.pop()
        return self.check(self.reviewer.post(f"/claims/{claim_id}/review",
                                             data=self.review_form), 302, "review")

    def post_visit(self):
        return self.check(self.officer.post(f"/leads/{self.s.lead_id}/visits", data=self.visit),
                          302, "visit")

    @staticmethod
    def check(response, status, what):
        if response.status_code != status:
            raise RuntimeError(f"{what}: HTTP {response.status_code}\n"
                               f"{response.get_data(as_text=True)[:500]}")
        return response


def stats_cache_figures(app, pages, call, repeat: int) -> list[Figure]:
    """The stats API in the two other states of the statistics cache: after a write in one unit
    (one unit recomputed, the usual state of a busy province), and with the cache empty (every
    unit computed: the first request for a new as-of date, e.g. each morning)."""
    from crm.extensions import db

    after_write = Figure("  stats API after a visit in one unit",
                         measure.time_calls(call, repeat, setup=pages.post_visit),
                         TARGETS["api"], note="that unit recomputed")

    def empty():  # the stored rows and what the process keeps (every unit's version bumped)
        from crm.stats import cache

        with app.app_context():
            cache.clear()
            db.session.commit()

    empty()
    cold = Figure("  stats API, cache empty (once)", measure.time_calls(call, 1, 0, setup=empty),
                  TARGETS["cold"], unit="s", note="every unit computed and stored")
    return [after_write, cold]


def count_queries(engine, call) -> int:
    with measure.capture_sql(engine) as statements:
        call()
    return len(statements)


def reminder_run(app, seed: int):
    """The weekly reminder for REMINDER_USERS users into a local aiosmtpd server."""
    import random

    from crm.auth.models import User
    from crm.clock import today
    from crm.extensions import db
    from crm.reminders import dispatch
    from crm.reminders.models import ReminderDispatch

    with app.app_context():
        db.session.execute(sa.delete(ReminderDispatch))
        ids = db.session.scalars(sa.select(User.id).where(User.active).order_by(User.id)).all()
        admins = db.session.scalars(sa.select(User.id).where(
            User.role.in_(("district_admin", "viewer")))).all()
        others = [i for i in ids if i not in set(admins)]
        chosen = admins + random.Random(seed).sample(others, min(len(others),
                                                                 REMINDER_USERS - len(admins)))
        db.session.execute(sa.update(User).values(reminder_weekly=False))
        db.session.execute(sa.update(User).where(User.id.in_(chosen)).values(reminder_weekly=True))
        db.session.commit()
        # the scheduler's 00:05 job has made the day's statistics ready before the 08:00 run
        from crm.stats.queries import warm

        warm(today())
        db.session.commit()
        began = time.perf_counter()
        result = dispatch.run("weekly", today())
        elapsed = time.perf_counter() - began
        db.session.execute(sa.update(User).values(reminder_weekly=True))
        db.session.execute(sa.delete(ReminderDispatch))
        db.session.commit()
    return elapsed, len(chosen), result


def import_file(app, path: Path, rows: int, seed: int) -> None:
    """An .xlsx in the import template's columns: ``rows`` new leads spread over the units."""
    import random

    from openpyxl import Workbook

    from crm.auth.models import User
    from crm.extensions import db
    from crm.imports.mapping import TEMPLATE_COLUMNS
    from crm.leads.models import SOURCE_LABELS
    from crm.leads.pipeline import STAGE_LABELS
    from crm.townships.models import Township

    rng = random.Random(seed)
    with app.app_context():
        units = db.session.execute(sa.select(Township.id, Township.name)).all()
        officers = {}
        for _user_id, unit_id, username in db.session.execute(
                sa.select(User.id, User.township_id, User.username).where(User.role == "officer")):
            officers.setdefault(unit_id, []).append(username)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("项目")
    sheet.append([header for _f, header in TEMPLATE_COLUMNS])
    today = dt.date.today()
    stages = ("contact", "contact", "contact", "negotiation", "signed")
    for n in range(rows):
        unit_id, unit_name = rng.choice(units)
        stage = rng.choice(stages)
        created = today - dt.timedelta(days=rng.randint(0, 300))
        sign = created + dt.timedelta(days=rng.randint(30, 200))
        values = {
            "name": f"导入测试项目{n:05d}", "company": f"导入测试{seed}-{n:05d}科技有限公司",
            "origin": rng.choice(generate.ORIGINS), "industry": "新材料", "chain": "功能材料",
            "source": str(SOURCE_LABELS[rng.choice(list(SOURCE_LABELS))]),
            "investment_wan": rng.randint(1000, 80_000), "township": unit_name,
            "officer": rng.choice(officers[unit_id]), "sponsor": "副区长 张三",
            "stage": str(STAGE_LABELS[stage]), "created_on": created,
            "planned_sign_date": sign, "planned_start_date": sign + dt.timedelta(days=90),
            "planned_production_date": sign + dt.timedelta(days=400), "land_mu": 50,
            "expected_output_wan": 30000, "expected_tax_wan": 1500, "jobs": 120,
            "contact_name": "李四", "contact_phone": generate.phone(rng),
            "next_follow_up": today + dt.timedelta(days=rng.randint(0, 30)),
            "stats_included_on": None, "notes": "基准测试导入",
        }
        sheet.append([values.get(f) for f, _h in TEMPLATE_COLUMNS])
    book.save(path)


def import_run(app, path: Path):
    """What `crm import leads FILE` does: read, check every row, write all (the bulk path,
    ``bulk_import_rows``), commit once."""
    from crm.auth.models import User
    from crm.extensions import db
    from crm.imports.bulk import bulk_import_rows
    from crm.imports.reader import read_table
    from crm.imports.service import preview

    with app.app_context():
        began = time.perf_counter()
        user = db.session.scalar(sa.select(User).where(User.role == "district_admin")
                                 .order_by(User.id))
        table = read_table(path)
        results = preview(user, table, release=True)
        bad = [line for r in results if r.errors for line in r.error_lines()]
        if bad:
            raise RuntimeError("import rows refused: " + "; ".join(bad[:5]))
        count = bulk_import_rows(user, results, path.name)
        db.session.commit()
        return time.perf_counter() - began, count


class Restore:
    """Remember the high-water marks and the measured lead; put the database back afterwards."""

    def __init__(self, app, lead_id: int):
        from crm.extensions import db
        from crm.leads.models import Lead

        self.app, self.lead_id = app, lead_id
        with app.app_context():
            self.max_review = db.session.scalar(sa.text("SELECT MAX(id) FROM claim_reviews")) or 0
            self.max_audit = db.session.scalar(sa.text("SELECT MAX(id) FROM audit_log")) or 0
            self.max_lead = db.session.scalar(sa.select(sa.func.max(Lead.id)))
            self.max_company = db.session.scalar(sa.text("SELECT MAX(id) FROM companies")) or 0
            self.max_visit = db.session.scalar(sa.text("SELECT MAX(id) FROM visits"))
            lead = db.session.get(Lead, lead_id)
            self.lead = {"last_visit_on": lead.last_visit_on, "version": lead.version,
                         "next_follow_up": lead.next_follow_up, "updated_at": lead.updated_at}

    def __call__(self):
        from crm.auth.models import ApiToken
        from crm.extensions import db
        from crm.leads.models import Lead

        with self.app.app_context():
            db.session.execute(sa.text("DELETE FROM visits WHERE id > :v"), {"v": self.max_visit})
            # the claims reviewed: pending again
            db.session.execute(sa.text(
                "UPDATE claims SET status = 'pending', decided_at = NULL, verified_on = NULL "
                "WHERE id IN (SELECT claim_id FROM claim_reviews WHERE id > :r)"),
                {"r": self.max_review})
            db.session.execute(sa.text("DELETE FROM claim_reviews WHERE id > :r"),
                               {"r": self.max_review})
            db.session.execute(sa.text(
                "DELETE FROM audit_log WHERE id > :a AND action LIKE 'claim.%'"),
                {"a": self.max_audit})
            db.session.execute(sa.text("DELETE FROM audit_log WHERE lead_id > :v OR lead_id = :l"),
                               {"v": self.max_lead, "l": self.lead_id})
            db.session.execute(sa.delete(Lead).where(Lead.id > self.max_lead)
                               .execution_options(synchronize_session=False))
            db.session.execute(sa.text("DELETE FROM companies WHERE id > :c"),
                               {"c": self.max_company})  # the imported investors
            db.session.execute(sa.update(Lead).where(Lead.id == self.lead_id).values(**self.lead))
            db.session.execute(sa.delete(ApiToken).where(ApiToken.name == "benchmark"))
            # an interrupted reminder run leaves its choice of recipients and its claims
            db.session.execute(sa.text("DELETE FROM reminder_dispatches"))
            db.session.execute(sa.text("UPDATE users SET reminder_weekly = :t"), {"t": True})
            # rows deleted by SQL above do not pass the ORM's version bump: forget the numbers
            db.session.execute(sa.text("DELETE FROM stats_cache"))
            db.session.commit()


class Inbox:
    """What the benchmark's SMTP server (``smtp_sink.py``, another process) has received."""

    def __init__(self, count_file: Path):
        self.count_file = count_file

    @property
    def count(self) -> int:
        return len(self.count_file.read_text().splitlines()) if self.count_file.exists() else 0


class SmtpServer:
    def __init__(self, process, directory):
        self.process, self.directory = process, directory

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.directory.cleanup()


def start_smtp():
    """``smtp_sink.py`` on a free loopback port: (its handle, the port, its inbox)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory = tempfile.TemporaryDirectory()
    count_file = Path(directory.name) / "received"
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("smtp_sink.py")),
                                str(port), str(count_file)], stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the benchmark's SMTP server did not start")
    return SmtpServer(process, directory), port, Inbox(count_file)


def query_counts(app) -> dict:
    """SQL statements per page, one warm request each."""
    from crm.extensions import db

    pages = Pages(app, Subjects(app))
    with app.app_context():
        engine = db.engine
    counts = {}
    for name, (call, _target, _who) in pages.items.items():
        call()
        counts[_generic(name)] = count_queries(engine, call)
    return counts


def _generic(name: str) -> str:
    """A page's name without the ids of this database (to match the tiny database's)."""
    return re.sub(r"/\d+", "/<id>", name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help=f"PostgreSQL server URL (default {generate.DEFAULT_PG})")
    parser.add_argument("--reuse", action="store_true", help="use the database if it exists")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip", default="", help="comma-separated parts not to run: "
                        "reminders, import, counts (the query counts on a tiny database)")
    args = parser.parse_args(argv)
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}

    url = ensure_database(args.size, args.db, args.url, args.seed, args.reuse)
    tiny_url = ensure_database(TINY, args.db, args.url, args.seed, True)
    claims = ensure_claims(url)
    ensure_claims(tiny_url, pending=50)
    ensure_workload(build_app(tiny_url), orders=20, disputes=10)
    info = measure.machine()
    engine = sa.create_engine(url)
    version = measure.database_version(engine)
    engine.dispose()
    counts = generate.row_counts(url)
    print(f"date      {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine   {info['cpu']}, {info['cores']} cores, {info['ram_gb']:.1f} GB RAM, "
          f"{info['os']}, Python {info['python']}")
    print(f"load      {info['load'][0]:.2f} {info['load'][1]:.2f} {info['load'][2]:.2f} "
          "(1/5/15 min; other processes share this machine)")
    print(f"database  {version}: "
          f"{sa.engine.make_url(url).render_as_string(hide_password=True)}")
    print(f"data      {counts['leads']:,} leads, {counts['visits']:,} visits, "
          f"{counts['users']:,} users, {counts['townships']:,} units, "
          f"{counts['stage_changes']:,} stage changes, "
          + ", ".join(f"{n:,} {status} claims" for status, n in sorted(claims.items())))
    print(f"runs      median and p95 of {args.repeat} runs after 2 warm-up runs\n", flush=True)

    controller, smtp_port, inbox = start_smtp()
    # in a child process: publishing a province's bulletin does not count as the worker's memory
    subprocess.run([sys.executable, "-c", "import sys, run; run.ensure_workload("
                    f"run.build_app({url!r}), **run.WORKLOAD)"],
                   cwd=Path(__file__).parent, check=True, stderr=subprocess.DEVNULL)
    app = build_app(url, smtp_port)
    gc.freeze()  # as crm/wsgi.py does once the app is loaded
    subjects = Subjects(app)
    restore = Restore(app, subjects.lead_id)
    figures: list[Figure] = []
    page_counts: dict[str, int] = {}
    try:
        pages = Pages(app, subjects)
        print(f"subjects  unit {subjects.unit_id} ({subjects.unit_leads} leads), head "
              f"{subjects.head}, officer {subjects.officer}, lead {subjects.lead_id}, "
              f"search “{subjects.word}”\n")
        print(measure.HEADER)
        from crm.extensions import db

        with app.app_context():
            app_engine = db.engine
        for name, (call, target, who) in pages.items.items():
            target, p95_target = target if isinstance(target, tuple) else (target, None)
            figure = Figure(name, measure.time_calls(call, args.repeat), target, note=who,
                            p95_target=p95_target)
            page_counts[_generic(name)] = count_queries(app_engine, call)
            figures.append(figure)
            print(figure.row(), flush=True)
            if name.startswith("stats API"):
                for extra in stats_cache_figures(app, pages, call, args.repeat):
                    figures.append(extra)
                    print(extra.row(), flush=True)
                call()
                with measure.capture_sql(app_engine) as statements:
                    call()
                bare = Figure("  bare SQL of the stats API (same statements)",
                              measure.time_bare(app_engine, statements, args.repeat),
                              TARGETS["api"], note=f"{len(statements)} statements, raw DBAPI")
                ratio = Figure("  stats API / bare SQL", [figure.median / bare.median],
                               TARGETS["ratio"], unit="x")
                figures += [bare, ratio]
                print(bare.row())
                print(ratio.row(), flush=True)
        current, peak = measure.rss_mb()
        memory = Figure("memory of the worker (peak RSS after the pages)", [peak],
                        TARGETS["memory"], unit="MB", note=f"current {current:.0f} MB")
        figures.append(memory)
        print(memory.row(), flush=True)

        if "reminders" not in skip:
            elapsed, n_users, result = reminder_run(app, args.seed)
            figure = Figure(f"weekly reminder run, {n_users} users (SMTP)", [elapsed],
                            TARGETS["reminders"], unit="s",
                            note=f"{result.summary()}; {inbox.count} received")
            figures.append(figure)
            print(figure.row(), flush=True)

        if "import" not in skip:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "bench-import.xlsx"
                import_file(app, path, IMPORT_ROWS, args.seed)
                elapsed, n = import_run(app, path)
            figure = Figure(f"import of {IMPORT_ROWS:,} rows (.xlsx, all or nothing)", [elapsed],
                            TARGETS["import"], unit="s", note=f"{n} leads created")
            figures.append(figure)
            print(figure.row(), flush=True)
        if not {"reminders", "import"} <= skip:
            _current, peak_all = measure.rss_mb()
            print(f"{'':46} (peak RSS after reminders and import: {peak_all:.0f} MB)")
    finally:
        restore()
        controller.stop()

    grown = []
    if "counts" in skip:
        page_counts = {}
    else:
        tiny_app = build_app(tiny_url)
        tiny_restore = Restore(tiny_app, Subjects(tiny_app).lead_id)
        try:
            tiny_counts = query_counts(tiny_app)
        finally:
            tiny_restore()
        print(f"\nSQL queries per request: {counts['leads']:,} leads vs {TINY} leads")
    for name, n in page_counts.items():
        small = tiny_counts.get(name)
        flag = "" if small is None or n <= small else "GROWS"
        if flag:
            grown.append(name)
        print(f"  {name:<46} {n:>4} {small if small is not None else '-':>6}  {flag}")

    missed = [f.name.strip() for f in figures if not f.passed]
    print()
    if missed or grown:
        print("MISSED: " + "; ".join(missed + [f"{g} (query count grows)" for g in grown]))
    else:
        print("every target holds; no page's query count grows with the data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
