"""In real Chromium: an officer on a phone logs a visit; a head drags a card on the board."""

import datetime as dt

import sqlalchemy as sa

from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead, StageChange
from crm.visits.models import Visit
from tests.browser.conftest import sign_in


def test_officer_logs_a_visit_on_a_phone(phone, live):
    page = phone
    with live.app.app_context():
        lead = db.session.get(Lead, live.ids["lead_a"])
        lead.next_follow_up = today() - dt.timedelta(days=2)
        db.session.commit()
    sign_in(page, live, "a-1")
    assert "欢迎" in page.content()
    page.goto(f"{live.url}/my")
    page.click("text=宠物食品生产基地")
    page.wait_for_url(f"{live.url}/leads/{live.ids['lead_a']}*")
    follow = (today() + dt.timedelta(days=7)).isoformat()
    page.click("#visit label:has-text('电话')")
    page.fill("#visit textarea[name=summary]", "电话沟通：对方确认下周来考察")
    page.fill("#visit input[name=next_follow_up]", follow)
    page.click("#visit button[type=submit]")
    page.wait_for_selector("text=走访已记录")
    assert "电话沟通：对方确认下周来考察" in page.content()
    # the page fits the phone: nothing forces a horizontal scroll of the whole page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.screenshot(path=str(live.app.instance_path) + "/officer-visit.png", full_page=True)
    with live.app.app_context():
        visit = db.session.scalar(sa.select(Visit))
        lead = db.session.get(Lead, live.ids["lead_a"])
        assert (visit.kind, visit.visited_on, visit.next_follow_up.isoformat()) == (
            "call", today(), follow)
        assert lead.next_follow_up.isoformat() == follow


def test_head_drags_a_card_from_negotiation_to_signed(desktop, live):
    page = desktop
    with live.app.app_context():
        lead = db.session.get(Lead, live.ids["lead_a"])
        head = lead.township and db.session.scalar(
            sa.select(type(lead.primary_officer)).where(
                type(lead.primary_officer).username == "a-head"))
        services.move_stage(head, lead, "negotiation", on=today() - dt.timedelta(days=3))
        db.session.commit()
    sign_in(page, live, "a-head")
    page.goto(f"{live.url}/board")
    card = page.locator(".board-card", has_text="宠物食品生产基地")
    target = page.locator(".board-col[data-stage=signed]")
    card.drag_to(target)
    dialog = page.locator("#move-dialog")
    dialog.wait_for(state="visible")
    assert "洽谈 → 签约" in dialog.inner_text()
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("text=阶段已变更")
    assert page.locator(".board-col[data-stage=signed] .board-card",
                        has_text="宠物食品生产基地").count() == 1
    page.goto(f"{live.url}/leads/{live.ids['lead_a']}")
    timeline = page.locator("#timeline").inner_text()
    assert "签约" in timeline
    with live.app.app_context():
        last = db.session.scalars(sa.select(StageChange).where(
            StageChange.lead_id == live.ids["lead_a"]).order_by(StageChange.id.desc())).first()
        assert (last.from_stage, last.to_stage, last.effective_on) == (
            "negotiation", "signed", today())


def test_board_move_works_without_javascript(browser, live):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live, "a-1")
    page.goto(f"{live.url}/board")
    card = page.locator(".board-card", has_text="宠物食品生产基地")
    card.locator(".board-card-move").click()  # the 移动到… menu opens without JavaScript
    card.locator("a[data-move-to=negotiation]").click()  # the move page, that stage chosen
    assert page.locator("select[name=to]").input_value() == "negotiation"
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=阶段已变更")
    context.close()
    with live.app.app_context():
        assert db.session.get(Lead, live.ids["lead_a"]).stage == "negotiation"
