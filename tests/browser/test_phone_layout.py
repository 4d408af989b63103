"""The phone layout in real Chromium: at 390×844 every main page, for every role, fits the
width (only a marked .scroller scrolls sideways), the top bar takes at most 120 px, officers and
heads get the bottom tab bar, the account menu opens; at 1366×900 the navigation shows."""

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.clock import today
from crm.extensions import db
from crm.leads.models import Lead
from crm.targets.models import Target
from tests import factories
from tests.browser.conftest import misfits, sign_in, wait_until

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

#: Pages not in the navigation (the account menu's, a lead's) visited besides every nav link.
EXTRA = ["/account/tokens", "/password", "/reminders/preferences", "/reminders/"]

def _fill(live) -> int:
    """Content that widens pages: targets for both units, red key projects with long names.
    Returns the officer's lead."""
    with live.app.app_context():
        admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
        officer = db.session.scalar(sa.select(User).where(User.username == "a-1"))
        units = [officer.township, db.session.scalar(
            sa.select(User).where(User.username == "b-1")).township]
        for k, unit in enumerate(units * 2):
            factories.lead(admin, unit, name=f"高端智能装备制造产业园二期扩建工程项目{k}",
                           company=f"山东省枣庄市某某新材料科技股份有限公司{k}",
                           stage="negotiation", key_level="city",
                           created_on=today() - dt.timedelta(days=100),
                           planned_sign_date=today() - dt.timedelta(days=40 + k))
            for metric, value in (("new_leads", 8), ("signed_100m", 10), ("visits", 50),
                                  ("funds_arrived_wan", 150000)):
                if k < 2:
                    db.session.add(Target(township_id=unit.id, year=today().year,
                                          metric=metric, value=value))
        db.session.commit()
        return db.session.scalar(sa.select(Lead.id).where(Lead.name == "宠物食品生产基地"))


def _pages(page, live, lead_id: int) -> list[str]:
    """Every page in the user's navigation, then the lead page and the account pages."""
    hrefs = page.eval_on_selector_all(".nav a", "links => links.map(a => a.getAttribute('href'))")
    return list(dict.fromkeys([*hrefs, f"/leads/{lead_id}", *EXTRA]))


@pytest.mark.parametrize("username, tabs", [("a-1", True), ("a-head", True),
                                             ("admin", False), ("viewer", False)])
def test_every_page_fits_a_phone(browser, live, username, tabs):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    lead_id = _fill(live)
    sign_in(page, live, username)
    pages = _pages(page, live, lead_id)
    assert len(pages) >= 8, pages
    for path in pages:
        response = page.goto(live.url + path)
        assert response.status == 200, path
        assert not misfits(path, page)
        assert page.locator(".nav").is_hidden()
        assert page.locator(".tabbar").is_visible() is tabs, path
    assert not errors, errors  # nothing refused by the Content-Security-Policy

    # The account menu opens without leaving the page and holds the account's items.
    page.goto(live.url + "/")
    menu = page.locator("#site-menu .menu-panel")
    assert menu.is_hidden()
    page.click("#site-menu summary")
    assert menu.is_visible()
    for item in ("API 令牌", "修改密码", "退出", "切换语言"):
        assert menu.get_by_text(item, exact=True).is_visible(), item
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.keyboard.press("Escape")
    assert menu.is_hidden()
    if not tabs:
        page.click("#site-menu summary")  # the pages, too, for those without the tab bar
        assert menu.locator(".menu-nav a", has_text="统计").is_visible()
    context.close()


def test_tab_bar_leads_an_officer_to_log_a_visit(phone, live):
    page = phone
    sign_in(page, live, "a-1")
    bar = page.locator(".tabbar")
    assert [t.strip() for t in bar.locator(".tab, .tab-more > summary").all_inner_texts()] == [
        "首页", "我的工作", "项目", "记走访", "更多"]
    assert bar.locator("[aria-current=page]").inner_text().strip() == "首页"
    # 更多 opens the other pages without leaving this one
    page.click(".tab-more summary")
    assert page.locator(".tab-more-panel a", has_text="看板").is_visible()
    page.click(".tab-more summary")
    # 记走访: the officer's own leads, each with its button, then the visit form
    bar.get_by_text("记走访").click()
    page.wait_for_url("**/leads/?*pick=visit*")
    cards = page.locator(".table-leads tbody tr")
    assert cards.count() == 1 and "宠物食品生产基地" in cards.first.inner_text()
    page.locator(".table-leads").get_by_role("link", name="记走访：宠物食品生产基地").click()
    page.wait_for_url(f"**/leads/{live.ids['lead_a']}/visits")
    assert page.locator("form textarea[name=summary]").is_visible()
    # above the tab bar: the form's last button is not hidden behind it
    button = page.locator("main form button[type=submit]").last
    button.scroll_into_view_if_needed()
    top_of_bar = bar.bounding_box()["y"]
    box = button.bounding_box()
    assert box["y"] + box["height"] <= top_of_bar + 1


def test_desktop_keeps_the_top_navigation(desktop, live):
    page = desktop
    sign_in(page, live, "admin")
    for path in ("/", "/stats/", "/bulletin", "/targets/"):
        page.goto(live.url + path)
        assert page.locator(".nav").is_visible()
        assert page.locator(".tabbar").count() == 0
        assert page.locator(".nav a", has_text="统计").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366, path
        assert page.locator(".topbar").bounding_box()["height"] <= 120
    page.click("#site-menu summary")
    assert page.locator("#site-menu .menu-panel").get_by_text("API 令牌").is_visible()
    assert page.locator(".menu-nav").is_hidden()  # the pages stay in the top bar
    # a wide table scrolls inside its marked region, reachable by the keyboard
    page.set_viewport_size(PHONE)
    page.goto(live.url + "/targets/")
    scroller = page.locator(".scroller").first
    scroller.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_until(page, "() => document.querySelector('.scroller').scrollLeft > 0",
               timeout=5)  # arrow keys scroll smoothly
    assert page.locator(".scroller-hint").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_phone_bulletin_is_short_and_charts_fill_their_cards(phone, live):
    """On a phone the bulletin starts with its section index, red open, the other sections
    folded (a page of screens, not fifteen); a chart fills its card with legible text."""
    _fill(live)
    page = phone
    sign_in(page, live, "viewer")
    page.goto(live.url + "/bulletin")
    assert page.locator("nav.section-index").is_visible()
    assert page.locator("details#colour-red").get_attribute("open") is not None
    folded = page.eval_on_selector_all(
        "details[data-fold-phone]", "ds => ds.map(d => d.open)")
    assert folded and not any(folded)
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.reload()
    assert page.eval_on_selector_all("details[data-fold-phone]", "ds => ds.every(d => d.open)")
    page.set_viewport_size(PHONE)
    assert height <= 6 * 844, height  # before: about 15 screens
    page.goto(live.url + "/stats/")
    _assert_charts_fill_their_cards(page, "/stats/")


def _assert_charts_fill_their_cards(page, where: str) -> None:
    charts = page.eval_on_selector_all("svg.chart", """svgs => svgs
        .filter(s => s.getBoundingClientRect().width > 0)
        .map(s => {
            const card = s.closest('.card, section, figure') || s.parentElement;
            const text = s.querySelector('text');
            return {ratio: s.getBoundingClientRect().width / card.getBoundingClientRect().width,
                    font: text ? text.getBoundingClientRect().height : 99};
        })""")
    assert charts, where
    for chart in charts:
        assert chart["ratio"] >= 0.85, (where, chart)
        assert chart["font"] >= 10, (where, chart)  # the rendered text, in CSS pixels


def test_phone_dashboards_lists_as_cards_and_sticky_first_columns(phone, live):
    """At 390×844: the home dashboards' charts (admin's district, head's unit) fill their cards
    with legible text; the lead list is a list of cards (no table head, each row a block); a wide
    table scrolled sideways keeps its first column in place."""
    _fill(live)
    page = phone
    for username in ("admin", "a-head"):
        sign_in(page, live, username)
        page.goto(live.url + "/")
        _assert_charts_fill_their_cards(page, f"/ as {username}")
        page.context.clear_cookies()
    sign_in(page, live, "admin")
    page.goto(live.url + "/leads/")
    assert page.locator(".table-leads thead").is_hidden()
    rows = page.locator(".table-leads tbody tr")
    assert rows.count() >= 4
    shapes = rows.evaluate_all("""rows => rows.map(r => ({
        display: getComputedStyle(r).display, width: r.getBoundingClientRect().width,
        cells: [...r.children].map(c => getComputedStyle(c).display)}))""")
    for shape in shapes:  # a card: a block as wide as the list, its cells stacked
        assert shape["display"] != "table-row" and shape["width"] <= 390, shape
        assert all(d != "table-cell" for d in shape["cells"]), shape
    page.goto(live.url + "/targets/")
    scroller = page.locator(".scroller").first
    first = scroller.locator("tbody tr").first.locator("th, td").first
    second = scroller.locator("tbody tr").first.locator("th, td").nth(1)
    assert first.evaluate("c => getComputedStyle(c).position") == "sticky"
    before = (first.bounding_box()["x"], second.bounding_box()["x"])
    scroller.evaluate("s => { s.style.scrollBehavior = 'auto'; s.scrollLeft = 300; }")
    wait_until(page, "() => document.querySelector('.scroller').scrollLeft >= 300", timeout=5)
    after = (first.bounding_box()["x"], second.bounding_box()["x"])
    assert abs(after[0] - before[0]) < 1, (before, after)  # the unit's name stays
    assert after[1] < before[1] - 100, (before, after)  # the figures scroll under it
