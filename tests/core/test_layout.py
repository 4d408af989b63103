"""The page frame (templates/base.html, templates/_macros/layout.html): which role gets the
phone's tab bar and which the menu of pages, the account menu on every page, 记走访 from the lead
list, and the one table scroller every wide table sits in. (How it looks at 390 px: the browser
test tests/browser/test_phone_layout.py.)"""

import re
from pathlib import Path

import pytest
from flask import render_template_string

from crm.auth.permissions import can
from tests import factories

#: The frame renders alike on both databases.
SQLITE = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: Templates whose tables are not in a scroller, and why.
NOT_SCROLLED = {
    "leads/index.html": "the lead list becomes cards on a phone",
    "leads/show.html": "the funds table: three narrow columns",
    "leads/form.html": "the edit conflict's three columns, inside an alert",
    "bulletin/screen.html": "the wall screen has its own layout",
}


def _tab_bar(html: str) -> str | None:
    found = re.search(r'<nav class="tabbar".*?</nav>', html, re.S)
    return found.group(0) if found else None


def _menu(html: str) -> str:
    return re.search(r'<details class="menu" id="site-menu">.*?</details>', html, re.S).group(0)


@SQLITE
@pytest.mark.parametrize("username", ["a-1", "a-head"])
def test_officers_and_heads_get_the_tab_bar(client, auth, world, username):
    auth.login(username)
    html = client.get("/").get_data(as_text=True)
    bar = _tab_bar(html)
    assert bar is not None and 'class="has-tabbar' in html
    labels = re.findall(r"<span>([^<]+)</span>", bar)
    assert labels[:5] == ["首页", "我的工作", "项目", "记走访", "更多"]
    # 更多 holds the pages not in the bar itself, without JavaScript
    more = re.search(r'<div class="tab-more-panel">.*?</div>', bar, re.S).group(0)
    assert ">看板<" in more and ">投资方<" in more and ">我的工作<" not in more
    # the pages are in the bar, not again in the account menu
    assert "menu-nav" not in _menu(html)


@SQLITE
def test_the_visit_tab_opens_the_officers_own_leads_the_heads_whole_unit(client, auth, world):
    auth.login("a-1")
    bar = _tab_bar(client.get("/my").get_data(as_text=True))
    link = re.search(r'<a class="tab tab-visit[^"]*" href="([^"]+)"', bar).group(1)
    assert f"officer_id={world.off_a1.id}" in link and "pick=visit" in link
    assert "stage=active" in link
    listing = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert "选择要记走访的项目" in listing
    assert f'href="/leads/{world.lead_a.id}/visits"' in listing
    assert f'/leads/{world.lead_a2.id}/visits' not in listing  # a-2's lead: not in this list
    # the tab shows where one is, on the list and on the visit form
    assert 'tab-visit active" href' in _tab_bar(listing)
    form = client.get(f"/leads/{world.lead_a.id}/visits").get_data(as_text=True)
    assert 'tab-visit active" href' in _tab_bar(form) and 'class="tab active"' not in form

    auth.logout()
    auth.login("a-head")
    link = re.search(r'class="tab tab-visit[^"]*" href="([^"]+)"',
                     client.get("/").get_data(as_text=True)).group(1)
    assert "officer_id" not in link and "pick=visit" in link
    listing = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    # the head may log a visit on each of the unit's leads
    assert f'/leads/{world.lead_a.id}/visits' in listing
    assert f'/leads/{world.lead_a2.id}/visits' in listing


@SQLITE
def test_an_officer_sees_visit_buttons_only_on_leads_they_may_log(client, auth, world):
    auth.login("a-2")
    html = client.get("/leads/").get_data(as_text=True)
    assert f'/leads/{world.lead_a2.id}/visits' in html
    assert f'/leads/{world.lead_a.id}/visits' not in html  # a-1's lead, a-2 not on it


@SQLITE
@pytest.mark.parametrize("username", ["admin", "viewer", "reviewer"])
def test_district_users_get_the_pages_in_the_menu_and_no_tab_bar(client, auth, world, username):
    if username == "reviewer":
        factories.user("reviewer", "reviewer")  # not a role check: the world has none
    auth.login(username)
    html = client.get("/").get_data(as_text=True)
    assert _tab_bar(html) is None and "has-tabbar" not in html
    menu = _menu(html)
    pages = re.search(r'<nav class="menu-nav".*?</nav>', menu, re.S).group(0)
    assert ">首页<" in pages and ">项目<" in pages and ">督办<" in pages
    assert (">用户管理<" in pages) is (username == "admin")
    assert (">待核验" in pages) is (username != "viewer")
    # no 记走访 buttons for those who do not carry leads
    assert "/visits\"" not in client.get("/leads/").get_data(as_text=True)


@SQLITE
@pytest.mark.parametrize("username", ["a-1", "admin"])
def test_the_account_items_are_in_the_menu_not_the_top_bar(client, auth, world, username):
    auth.login(username)
    for path in ("/", "/leads/", "/supervision/"):
        html = client.get(path).get_data(as_text=True)
        menu = _menu(html)
        for item in ("提醒设置", "修改密码", "API 令牌", "退出", "切换语言"):
            assert item in menu, (path, item)
        top_bar = re.search(r'<header class="topbar">.*?</header>', html, re.S).group(0)
        assert top_bar.replace(menu, "").count("API 令牌") == 0
        assert html.count('name="lang"') == 1  # the language form: in the menu only


@SQLITE
def test_signed_out_pages_keep_the_language_switch(client, world):
    html = client.get("/login").get_data(as_text=True)
    assert 'id="lang-select"' in html and "site-menu" not in html and "tabbar" not in html


def test_the_tab_bar_is_a_named_action(rules_app):
    class Person:
        is_authenticated = active = True

        def __init__(self, role):
            self.role = role

    from crm.auth.models import DISTRICT_ADMIN, OFFICER, REVIEWER, TOWNSHIP_HEAD, VIEWER

    assert [can(Person(r), "nav.tabs") for r in (OFFICER, TOWNSHIP_HEAD)] == [True, True]
    assert not any(can(Person(r), "nav.tabs") for r in (DISTRICT_ADMIN, VIEWER, REVIEWER))


@SQLITE
def test_the_scroller_macro(app):
    with app.test_request_context("/"):
        html = render_template_string(
            '{% import "_macros/layout.html" as layout with context %}'
            '{% call layout.scroller("各单位排名") %}<table class="table"></table>{% endcall %}')
    region = re.search(r"<div class=\"scroller\"[^>]*>", html).group(0)
    assert 'role="region"' in region and 'aria-label="各单位排名"' in region
    assert 'tabindex="0"' in region
    assert "左右滑动查看" in html and '<table class="table"></table>' in html
    assert html.index("scroller-hint") < html.index('class="scroller"')


def test_every_wide_table_is_in_a_scroller():
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name.startswith(("email/", "_macros/")) or name in NOT_SCROLLED:
            continue
        text = path.read_text("utf-8")
        tables, scrollers = text.count("<table"), text.count("layout.scroller(")
        if tables > scrollers:
            missing.append(f"{name}: {tables} tables, {scrollers} scrollers")
    assert not missing, "wrap wide tables in layout.scroller():\n" + "\n".join(missing)


@SQLITE
def test_pages_render_their_tables_in_scrollers(client, auth, world):
    auth.login("admin")
    for path in ("/", "/stats/", "/targets/", "/bulletin", "/admin/users", "/companies/"):
        html = client.get(path).get_data(as_text=True)
        assert html.count("<table") == html.count('role="region"'), path
        assert 'class="table-wrap"' not in html, path
