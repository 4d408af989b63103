"""In real Chromium: the bulletin page and its download, the big screen and its secret link."""

import datetime as dt

import openpyxl

from crm.auth.models import User
from crm.bulletin import views
from crm.clock import today
from crm.extensions import db
from crm.targets.models import Target
from tests import factories
from tests.browser.conftest import sign_in

RED_NAME = "鲁南超算中心"


def add_red_lead(server):
    """A lead whose planned signing is 45 days past (red today), and this year's targets."""
    with server.app.app_context():
        admin = db.session.query(User).filter_by(username="admin").one()
        unit = db.session.query(User).filter_by(username="a-1").one().township
        factories.lead(admin, unit, name=RED_NAME, company="鲁南数据科技有限公司", stage="negotiation",
                       created_on=today() - dt.timedelta(days=100),
                       planned_sign_date=today() - dt.timedelta(days=45))
        for metric, value in (("new_leads", 1), ("signed_100m", 10), ("visits", 5),
                              ("funds_arrived_wan", 150000)):
            db.session.add(Target(township_id=unit.id, year=today().year, metric=metric, value=value))
        db.session.commit()


def test_bulletin_page_and_download(desktop, live, tmp_path):  # noqa: F811 (fixtures)
    page = desktop
    add_red_lead(live)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live, "viewer")
    page.goto(f"{live.url}/bulletin")
    assert page.locator("h1").inner_text() == "市中区招商引资项目红黄蓝通报"
    first = page.locator(".table-bulletin tbody tr").first
    assert RED_NAME in first.inner_text()
    assert first.locator(".badge.c-red").count() == 1
    badge = first.locator(".badge.c-red")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(196, 35, 26)"
    assert page.locator(".kpi-alert .kpi-num").inner_text() == "1"
    assert page.locator(".table-ranking .badge.c-red").count() == 3  # signings, visits, funds
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.screenshot(path=str(tmp_path / "bulletin.png"), full_page=True)
    with page.expect_download() as info:
        page.click("text=下载 Excel")
    download = info.value
    assert download.suggested_filename == f"红黄蓝通报-{today().isoformat()}.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = openpyxl.load_workbook(saved)
    assert book["项目三色"]["C4"].value == RED_NAME
    assert not errors, errors  # nothing refused by the Content-Security-Policy

    # On a phone: the projects become cards; nothing widens the page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    assert page.locator(".table-bulletin thead").first.is_hidden()


def test_big_screen_by_secret_link(browser, desktop, live, tmp_path, monkeypatch):  # noqa: F811
    add_red_lead(live)
    page = desktop
    sign_in(page, live, "admin")
    page.goto(f"{live.url}/screen/links")
    page.fill("input[name=name]", "区政务服务中心一楼大厅")
    page.click("text=生成链接")
    url = page.locator("#new-link-url").input_value()
    assert url.startswith(f"{live.url}/screen/scr_")

    # A wall screen: no session, 1920×1080, JavaScript on; it reloads itself on a timer.
    monkeypatch.setattr(views, "SCREEN_REFRESH_SECONDS", 2)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    screen = context.new_page()
    errors = []
    screen.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    screen.goto(url)
    assert screen.locator("h1").inner_text() == "市中区招商引资项目红黄蓝通报"
    assert screen.locator(".topbar").count() == 0
    assert RED_NAME in screen.locator(".red-list").inner_text()
    assert "计划签约日期已过 45 天" in screen.locator(".red-list").inner_text()
    assert screen.locator(".screen-ranking tbody tr").count() == 2  # the world's two units
    size = screen.locator("h1").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 48
    background = screen.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(7, 17, 31)"
    assert screen.evaluate("document.documentElement.scrollHeight") <= 1080
    screen.screenshot(path=str(tmp_path / "screen.png"))
    screen.evaluate("window.__marker = 1")
    screen.wait_for_event("load", timeout=10000)
    assert screen.evaluate("window.__marker") is None  # a new document: screen.js reloaded it
    assert not errors, errors

    # Revoked: the next reload shows the screen's own "link revoked" page instead (410).
    page.goto(f"{live.url}/screen/links")
    page.once("dialog", lambda dialog: dialog.accept())  # "停用后这块屏幕将不再显示 …"
    page.click("button:has-text('停用')")
    page.wait_for_selector("text=已停用屏幕链接")
    response = screen.goto(url)
    assert response.status == 410
    assert screen.locator("h1").inner_text() == "此屏幕链接已停用"
    assert screen.locator("nav, a, .topbar").count() == 0
    context.close()
