"""Screenshots of every page, for every role, at 1366×900 and 390×844, on the demo district.

    PYTHONPATH=. .venv/bin/python scripts/screenshots.py --out docs/screenshots
    PYTHONPATH=. .venv/bin/python scripts/screenshots.py --out /tmp/shots \\
        --roles officer --sizes phone --pages "/leads/{lead}" --max-height 844

Starts the app on a fresh SQLite file in a temporary folder, loads the demo (`crm seed-demo`) plus
a supervision order, a published bulletin and a big-screen link, serves it on a loopback port,
signs in per role in Debian's Chromium (Playwright) and saves one PNG per page as
``<page>-<role>-<size>.png`` (palette PNG, optimised with Pillow). The pages and who opens them
are the table of every page (tests/pages.py, ``PAGES``).
"""

import argparse
import datetime as dt
import re
import sys
import tempfile
import threading
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from PIL import Image
from werkzeug.serving import WSGIRequestHandler, make_server

from crm import create_app
from crm.auth.models import User
from crm.bulletin import issues as bulletin_issues
from crm.bulletin.models import BulletinIssue, ScreenLink
from crm.channels.models import Channel
from crm.claims.models import Claim
from crm.clock import today, utcnow
from crm.companies.models import Dispute
from crm.extensions import db
from crm.industries.models import Industry
from crm.leads.models import Lead
from crm.leads.services import create_lead
from crm.permits.models import Permit
from crm.permits.services import add_permit
from crm.reminders.mail import unsubscribe_token
from crm.seed import DEMO_PASSWORD, seed_demo
from crm.supervision.models import SupervisionOrder
from crm.supervision.services import issue_order
from crm.visits.models import Visit
from crm.visits.services import log_visit
from tests.browser.conftest import ARGS, CHROMIUM
from tests.pages import PAGES, SIZES, pages_for

#: role key of PAGES -> the demo's username (crm/seed.py USERS); None: not signed in.
DEMO_USERS = {"admin": "admin", "viewer": "viewer", "head": "mengzhuang-head",
              "officer": "mengzhuang-1", "reviewer": "reviewer", "anon": None}
#: Long pages are cut at this height (CSS px) unless told otherwise: a PNG stays readable and small.
MAX_HEIGHT = 4000


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def demo_ids() -> dict:
    """Seed the demo district and name one object of each kind (``PAGES`` placeholders): a lead
    of officer mengzhuang-1 with their visit, a supervision order on it, a published bulletin…"""
    seed_demo(today())
    officer = db.session.scalar(sa.select(User).where(User.username == "mengzhuang-1"))
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    lead = db.session.scalar(
        sa.select(Lead).where(Lead.primary_officer_id == officer.id, Lead.stage != "lost")
        .order_by(Lead.id))
    visit = db.session.scalar(sa.select(Visit).where(Visit.lead_id == lead.id,
                                                     Visit.user_id == officer.id))
    if visit is None:
        visit = log_visit(officer, lead, {"kind": "visit", "summary": "现场查看项目用地",
                                          "visited_on": today()})
    permit = db.session.scalar(sa.select(Permit).where(Permit.lead_id == lead.id)) or add_permit(
        officer, lead, {"kind": "environment", "due_on": today() - dt.timedelta(days=20),
                        "responsible_unit": "区行政审批局"})
    order = db.session.scalar(sa.select(SupervisionOrder).where(
        SupervisionOrder.lead_id == lead.id)) or issue_order(admin, lead, "yellow",
                                                             "跟进不及时，请说明情况")
    issue = db.session.scalar(sa.select(BulletinIssue)) or bulletin_issues.publish(
        admin, today() - dt.timedelta(days=1))
    link, screen_token = ScreenLink.issue(admin, "区政务服务中心大厅")
    revoked, revoked_token = ScreenLink.issue(admin, "旧屏")
    revoked.revoked_at = utcnow()
    db.session.add_all([link, revoked])
    claim = db.session.scalar(sa.select(Claim).join(Lead).where(
        Lead.township_id == officer.township_id).order_by(Claim.id))
    colleague = db.session.scalar(sa.select(User).where(User.username == "mengzhuang-2"))
    if db.session.scalar(sa.select(Dispute.id)) is None:  # another unit registers the same investor
        rival = db.session.scalar(sa.select(User).where(User.username == "shuiguo-1"))
        create_lead(rival, {"name": f"{lead.name}（二期）", "company": f"（山东）{lead.company}",
                            "township_id": rival.township_id, "investment_wan": Decimal(20000)})
    officer.reminder_daily = True
    db.session.flush()
    return {
        "lead": lead.id, "visit": visit.id, "unit": officer.township_id,
        "company": lead.company_id, "order": order.id, "claim": claim.id if claim else 0,
        "dispute": db.session.scalar(sa.select(Dispute.id).order_by(Dispute.id)) or 0,
        "issue": issue.id, "permit": permit.id, "user": colleague.id,
        "channel": db.session.scalar(sa.select(Channel.id).order_by(Channel.id)) or 0,
        "industry": db.session.scalar(sa.select(Industry.id).order_by(Industry.id)),
        "screen_token": screen_token, "revoked_token": revoked_token,
        "unsubscribe": unsubscribe_token(officer, "daily"),
    }


def start_server(folder: Path):
    app = create_app({
        "IGNORE_INSTANCE_FILE": True, "INSTANCE_PATH": str(folder / "instance"),
        "CRM_DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}",
        "CRM_SECRET_KEY": "screenshots", "CRM_MAIL_BACKEND": "file",
        "CRM_STORAGE_URL": f"file://{folder / 'files'}",
    })
    with app.app_context():
        db.create_all()
        ids = demo_ids()
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", ids


def slug(path: str) -> str:
    """``/leads/{lead}/edit`` -> ``leads-lead-edit``; ``/`` -> ``home``."""
    text = re.sub(r"[^0-9A-Za-z]+", "-", path.replace("{", "").replace("}", "")).strip("-")
    return text or "home"


def save_small(png: Path) -> None:
    """A palette PNG (256 colours) optimised: a tenth of the size, text still crisp."""
    image = Image.open(png).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        png, optimize=True)


def shoot(browser, base_url: str, ids: dict, role: str, size: str, only: set | None,
          out: Path, max_height: int = MAX_HEIGHT) -> list[Path]:
    width, height = SIZES[size]
    options = {"viewport": {"width": width, "height": height}, "locale": "zh-CN"}
    if size == "phone":
        options.update(has_touch=True, is_mobile=True, device_scale_factor=1)
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(20000)
    saved = []
    try:
        if DEMO_USERS[role]:
            page.goto(f"{base_url}/login")
            page.fill("input[name=username]", DEMO_USERS[role])
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base_url}/")
        for entry in pages_for(role):
            if only and entry.path not in only:
                continue
            page.goto(base_url + entry.path.format(**ids))
            page.wait_for_load_state("load")
            full = page.evaluate("document.documentElement.scrollHeight")
            target = out / f"{slug(entry.path)}-{role}-{size}.png"
            page.screenshot(path=str(target), full_page=True,
                            clip={"x": 0, "y": 0, "width": width,
                                  "height": min(max(full, height), max_height)})
            save_small(target)
            saved.append(target)
    finally:
        context.close()
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--roles", default=",".join(DEMO_USERS),
                        help="comma-separated: " + ",".join(DEMO_USERS))
    parser.add_argument("--sizes", default=",".join(SIZES), help="desktop,phone")
    parser.add_argument("--pages", default="",
                        help="comma-separated paths as in PAGES (e.g. '/,/leads/{lead}'); all if empty")
    parser.add_argument("--max-height", type=int, default=MAX_HEIGHT,
                        help=f"cut pages longer than this (CSS px; default {MAX_HEIGHT})")
    args = parser.parse_args(argv)
    roles = [r for r in args.roles.split(",") if r]
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [r for r in roles if r not in DEMO_USERS] + [s for s in sizes if s not in SIZES]
    only = {p for p in args.pages.split(",") if p} or None
    known = {p.path for p in PAGES}
    unknown += sorted((only or set()) - known)
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server, base_url, ids = start_server(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                count = 0
                for role in roles:
                    for size in sizes:
                        for path in shoot(browser, base_url, ids, role, size, only, args.out,
                                          args.max_height):
                            count += 1
                            print(f"{path}  {path.stat().st_size // 1024} KB")
                browser.close()
        finally:
            server.shutdown()
    print(f"{count} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
