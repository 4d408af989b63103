"""The board in real Chromium: a card moved with the keyboard alone at 1366×900 (every column in
view, only the allowed stages offered); at 390×844 the board scrolls by column with snap and
has a column picker."""

import sqlalchemy as sa

from crm.extensions import db
from crm.leads.models import Lead
from tests.browser.conftest import sign_in, wait_until


def _tab_to(page, selector, limit=250):
    """Press Tab until the focused element matches ``selector`` (the keyboard alone)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"never reached {selector} with Tab")


def test_officer_moves_a_card_with_the_keyboard_alone(desktop, live):
    page = desktop
    lead_id = live.ids["lead_a"]
    sign_in(page, live, "a-1")
    page.goto(f"{live.url}/board")
    # at 1366 px every column is in view: 投产 and 终止 are not cut off
    board = page.locator("[data-board]").bounding_box()
    for stage in ("producing", "lost"):
        box = page.locator(f".board-col[data-stage={stage}]").bounding_box()
        assert box["x"] + box["width"] <= board["x"] + board["width"] + 1, stage
    card = f".board-card[data-lead-id='{lead_id}']"
    # the officer's card in 接触 offers only the forward moves and 终止
    targets = page.locator(f"{card} a[data-move-to]").evaluate_all(
        "links => links.map(a => a.dataset.moveTo)")
    assert targets == ["negotiation", "signed", "started", "producing", "lost"]
    _tab_to(page, f"{card} summary")
    page.keyboard.press("Enter")  # opens the 移动到… menu
    page.keyboard.press("Tab")  # its first stage: 洽谈
    assert page.evaluate("document.activeElement.dataset.moveTo") == "negotiation"
    page.keyboard.press("Enter")  # the same dialog as a drop
    dialog = page.locator("#move-dialog")
    dialog.wait_for(state="visible")
    assert "接触 → 洽谈" in dialog.inner_text()
    assert page.evaluate("document.activeElement.name") == "on"
    page.keyboard.press("Enter")  # submits the dialog's form
    page.wait_for_selector("text=阶段已变更")
    assert page.locator(f".board-col[data-stage=negotiation] {card}").count() == 1
    with live.app.app_context():
        assert db.session.get(Lead, lead_id).stage == "negotiation"
    # a drag back to 接触 is not the officer's to make: that column takes no drop
    page.locator(card).drag_to(page.locator(".board-col[data-stage=contact]"))
    page.wait_for_timeout(300)
    assert not dialog.is_visible()
    # Escape leaves the dialog and returns focus to the card's menu button
    _tab_to(page, f"{card} summary")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    dialog.wait_for(state="visible")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate(f"document.activeElement === document.querySelector(\"{card} summary\")")


def test_phone_board_snaps_by_column_and_has_a_column_picker(phone, live):
    page = phone
    sign_in(page, live, "a-1")
    page.goto(f"{live.url}/board")
    snap = page.locator("[data-board]").evaluate("b => getComputedStyle(b).scrollSnapType")
    assert snap.startswith("x") and "mandatory" in snap
    align = page.locator(".board-col").first.evaluate("c => getComputedStyle(c).scrollSnapAlign")
    assert "start" in align
    picker = page.locator("nav.board-picker")
    assert picker.is_visible()
    assert picker.locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))") == [
        "#col-contact", "#col-negotiation", "#col-signed", "#col-started", "#col-producing",
        "#col-lost"]
    assert page.locator(".board-scroll-cue").is_visible()
    # the page itself does not scroll sideways: only the board does
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    picker.locator("a[href='#col-producing']").click()
    wait_until(
        page, "() => { const b = document.querySelector('[data-board]');"
        " const c = document.getElementById('col-producing');"
        " return Math.abs(c.getBoundingClientRect().left - b.getBoundingClientRect().left) < 12; }")
    with live.app.app_context():
        assert db.session.scalar(sa.select(Lead.stage).where(Lead.id == live.ids["lead_a"])) \
            == "contact"
