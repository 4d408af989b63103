"""In real Chromium: the big screen on a 1920×1080 wall (24 px heads, every red project paged
through, the lower half used) and on a 390 px phone (nothing sideways outside the scroller)."""

import datetime as dt

from crm.auth.models import User
from crm.bulletin import views
from crm.clock import today
from crm.extensions import db
from crm.targets.models import Target
from tests import factories
from tests.browser.conftest import sign_in

METRICS = ("new_leads", "signed_100m", "signed_1b", "started_100m", "producing", "visits",
           "funds_arrived_wan", "signed_investment_wan")


def add_reds_and_targets(server, n=12):
    with server.app.app_context():
        admin = db.session.query(User).filter_by(username="admin").one()
        units = [db.session.query(User).filter_by(username=u).one().township
                 for u in ("a-1", "b-1")]
        for i in range(n):
            factories.lead(admin, units[i % 2], name=f"红色项目{i + 1:02d}",
                           company=f"红色项目{i + 1:02d}公司", stage="negotiation",
                           created_on=today() - dt.timedelta(days=100),
                           planned_sign_date=today() - dt.timedelta(days=40 + i))
        for unit in units:
            for metric in METRICS:
                db.session.add(Target(township_id=unit.id, year=today().year, metric=metric,
                                      value=10))
        db.session.commit()


def font_px(page, selector):
    return page.locator(selector).evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")


def test_big_screen_on_a_wall_and_a_phone(browser, live, monkeypatch):
    add_reds_and_targets(live)
    monkeypatch.setattr(views, "SCREEN_ROTATE_SECONDS", 1)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live, "viewer")
    page.goto(f"{live.url}/screen")

    # Readable from across the room: every heading and column head at least 24 px.
    assert min(font_px(page, "h1")) >= 48
    assert min(font_px(page, "h2")) >= 24
    assert min(font_px(page, ".screen-ranking thead th")) >= 24
    # A wall does not scroll, and its lower half is used (the charts reach down into it).
    assert page.evaluate("document.documentElement.scrollHeight") <= 1080
    assert page.evaluate("document.documentElement.scrollWidth") <= 1920
    charts = page.locator(".screen-charts").bounding_box()
    assert charts["y"] + charts["height"] > 800
    assert page.locator(".screen-charts svg[role=img]").count() == 2
    assert page.locator("svg[role=img] a").count() == 0

    # All 12 red projects are on the page, shown six at a time; the pages turn by themselves.
    items = page.locator(".red-list li")
    assert items.count() == 12
    assert page.locator(".red-list li:visible").count() == 6
    assert page.locator("#red-pager").inner_text() == "第 1/2 页"
    tenth = page.locator('.red-list li[data-red="10"]')
    assert tenth.is_hidden()
    tenth.wait_for(state="visible", timeout=5000)
    assert page.locator("#red-pager").inner_text() == "第 2/2 页"
    assert page.locator('.red-list li[data-red="1"]').is_hidden()
    assert not errors, errors  # nothing refused by the Content-Security-Policy

    # On a phone: the ranking keeps its columns and scrolls sideways in its own box only.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    scroller = page.locator(".screen-scroller")
    assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")
    assert scroller.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    assert scroller.get_attribute("tabindex") == "0"  # reachable by keyboard
    last_head = page.locator(".screen-ranking thead th").last
    assert last_head.evaluate("e => e.getBoundingClientRect().width") > 20  # not squeezed away
    scroller.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    assert last_head.is_visible()
    context.close()
