"""In real Chromium: the admin publishes 第N期, opens its Word file, the big screen shows it; a
head answers a supervision order on a phone."""

import io

from docx import Document

from crm.auth.models import User
from crm.clock import today
from crm.extensions import db
from crm.leads.models import Lead
from crm.supervision.services import issue_order
from tests.browser.conftest import sign_in
from tests.browser.test_bulletin_screen import RED_NAME, add_red_lead


def test_admin_publishes_and_the_screen_shows_the_issue(desktop, live, tmp_path):
    page = desktop
    add_red_lead(live)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live, "admin")
    page.goto(f"{live.url}/bulletins/")
    page.fill("#publish-as-of", today().isoformat())
    page.click("#publish-form button[type=submit]")
    page.wait_for_url(f"{live.url}/bulletins/*")
    assert f"{today().year}年第1期" in page.locator(".page-head").inner_text()
    assert RED_NAME in page.content()
    with page.expect_download() as info:
        page.click("#docx-link")
    saved = tmp_path / "issue.docx"
    info.value.save_as(saved)
    document = Document(io.BytesIO(saved.read_bytes()))
    assert RED_NAME in {c.text for t in document.tables for row in t.rows for c in row.cells}
    page.goto(f"{live.url}/screen")
    issue = page.locator("#screen-issue")
    assert f"{today().year}年第1期" in issue.inner_text()
    assert "新" in issue.inner_text()
    page.screenshot(path=str(tmp_path / "screen.png"), full_page=True)
    assert not errors, errors


def test_a_head_answers_an_order_on_a_phone(phone, live, tmp_path):
    with live.app.app_context():
        admin = db.session.query(User).filter_by(username="admin").one()
        lead = db.session.get(Lead, live.ids["lead_a"])
        order = issue_order(admin, lead, "yellow", "跟进不及时，请说明情况")
        db.session.commit()
        order_id, number = order.id, order.number_text
    page = phone
    sign_in(page, live, "a-head")
    page.goto(f"{live.url}/supervision/")
    page.click(f"text={number}")
    page.wait_for_url(f"{live.url}/supervision/{order_id}")
    page.fill("#answer-text", "已约谈企业负责人，本周内恢复施工")
    page.click("#answer-form button[type=submit]")
    page.wait_for_url(f"{live.url}/supervision/{order_id}")
    assert "已答复" in page.content()
    assert "已约谈企业负责人，本周内恢复施工" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
