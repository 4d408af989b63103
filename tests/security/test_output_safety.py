"""User text is escaped everywhere it is shown: pages, the board's JavaScript, mail, exports."""

import datetime as dt
import io
import re
from pathlib import Path

import openpyxl
import pytest

from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead
from crm.reminders.content import daily_digests, weekly_digests
from crm.reminders.mail import render
from crm.visits import services as visit_services

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
RAW = (SCRIPT, "<img src=x onerror", "onerror=alert(1)>")


def poison(world):
    """Lead A carries the payloads in every free-text field it has, and is overdue (yellow)."""
    lead = db.session.get(Lead, world.lead_a.id)
    services.update_lead(world.head_a, lead, {
        "name": f"项目{SCRIPT}{TEMPLATE}", "company": f"公司{IMG}", "contact_name": SCRIPT,
        "notes": f"{SCRIPT}{IMG}{TEMPLATE}", "next_follow_up": today() - dt.timedelta(days=3),
    }, lead.version)
    services.add_blocker(world.head_a, lead, "land", f"用地{SCRIPT}{IMG}", owner=TEMPLATE)
    visit_services.log_visit(world.off_a1, lead, {
        "kind": "visit", "summary": f"走访{SCRIPT}{IMG}{TEMPLATE}", "next_step": IMG,
        "visited_on": today() - dt.timedelta(days=1)})
    db.session.commit()
    return lead


def assert_escaped(html: str, where: str):
    for raw in RAW:
        assert raw not in html, f"raw {raw!r} in {where}"
    if where == "/screen":  # the big screen shows units and red projects only
        return
    assert "alert(1)" in html, f"the payload is not shown at all on {where}"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img" in html, where


@pytest.mark.parametrize("username, pages", [
    ("a-head", ["/leads/", "/leads/{id}", "/board", "/my", "/stats/unit/{unit}"]),
    ("admin", ["/leads/?q=项目", "/leads/{id}", "/bulletin", "/screen"]),
])
def test_pages_escape_user_text(client, auth, world, username, pages):
    lead = poison(world)
    auth.login(username)
    for template in pages:
        path = template.format(id=lead.id, unit=world.a.id)
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert_escaped(html, path)
        assert "<script>" not in re.sub(r'<script src="[^"]+"( defer)?></script>', "", html), path


def test_lead_page_shows_template_text_literally(client, auth, world):
    lead = poison(world)
    auth.login("a-1")
    html = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert TEMPLATE in html  # shown as typed, never evaluated


def test_board_javascript_never_writes_html():
    sources = list(Path("crm/static/js").glob("*.js"))
    assert sources
    for source in sources:
        code = source.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, f"{source.name} uses {sink}"


def test_reminder_mail_escapes_user_text(app, world):
    lead = poison(world)
    digests = [d for d in daily_digests(today()) if d.user.id == world.off_a1.id]
    digests += [d for d in weekly_digests(today()) if d.user.id in (world.off_a1.id, world.head_a.id)]
    assert {d.kind for d in digests} == {"daily", "weekly"}
    for digest in digests:
        message = render(digest)
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        for raw in RAW:
            assert raw not in html, digest.kind
        if lead.name in text:  # the text part is plain text: shown as typed
            assert "&lt;" not in text
    daily = next(d for d in digests if d.kind == "daily")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render(daily).get_body(("html",)).get_content()


def test_exports_store_formula_like_text_as_text(client, auth, world):
    lead = db.session.get(Lead, world.lead_a.id)
    services.update_lead(world.head_a, lead, {
        "name": "=1+1", "company": "+SUM(A1)", "contact_name": "-2+3", "notes": "@cmd",
        "next_follow_up": today() - dt.timedelta(days=3)}, lead.version)
    db.session.commit()
    auth.login("admin")
    for path in ("/exports/leads.xlsx", "/bulletin.xlsx"):
        response = client.get(path)
        assert response.status_code == 200, path
        book = openpyxl.load_workbook(io.BytesIO(response.data))
        cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row
                 if isinstance(c.value, str)]
        assert all(c.data_type != "f" for c in cells), path
        texts = {c.value for c in cells}
        assert not any(t.startswith(("=", "+", "-", "@")) for t in texts), path
        assert "'=1+1" in texts, path
