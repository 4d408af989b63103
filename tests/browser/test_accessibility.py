"""In real Chromium: axe-core (tests/browser/vendor/axe.min.js) on every page of tests/pages.py,
for every role, at 1366×900 and 390×844: no violation of the WCAG 2.0/2.1 A and AA rules; at
390×844 the same pages also fit the phone (nothing but a marked scroller is wider than the screen,
the top bar ≤ 120 px). Then the states a page reaches only after an action (the account menu
open, a form sent back with its errors, the 申请退回 form after a refused move, a token shown
once, an import preview, the board's move dialog, a disabled pager). Also what axe cannot see:
the focus indicator's contrast, and the sticky save bar never covering the focused field. To
add a page, add it to ``PAGES`` in tests/pages.py.
"""

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from crm.auth.models import LoginAttempt
from crm.extensions import db
from tests import factories
from tests.browser.conftest import misfits
from tests.conftest import make_app
from tests.pages import ROLES, SIZES, build_world, pages_for

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def a11y_live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("a11y")
    app = make_app(tmp, f"sqlite:///{tmp / 'live.sqlite3'}",
                   CRM_STORAGE_URL=f"file://{tmp / 'files'}")
    with app.app_context():
        db.create_all()
        ids = build_world()
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.app, server.ids = app, ids
    yield server
    server.shutdown()
    thread.join(timeout=5)


# --- running axe ---------------------------------------------------------------------------------

def new_context(browser, size: str):
    """A browser context at ``size`` with axe-core injected into every page it loads (as an init
    script: the app's Content-Security-Policy stays on and untouched)."""
    width, height = SIZES[size]
    options = {"viewport": {"width": width, "height": height}, "locale": "zh-CN"}
    if size == "phone":
        options.update(has_touch=True, is_mobile=True)
    context = browser.new_context(**options)
    context.add_init_script(path=str(AXE))
    context.set_default_timeout(15000)
    return context


def sign_in_as(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def axe_violations(page) -> list[dict]:
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "),
                                          summary: n.failureSummary}))}));
        }""", TAGS)


def describe(where: str, violations: list[dict]) -> list[str]:
    lines = []
    for v in violations:
        lines.append(f"{where}: {v['id']} ({v['impact']}, {len(v['nodes'])} elements) {v['help']}")
        for node in v["nodes"][:5]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary[:300]}")
    return lines


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ROLES)
def test_no_wcag_violations(browser, a11y_live, role, size):
    live = a11y_live
    context = new_context(browser, size)
    page = context.new_page()
    try:
        if ROLES[role]:
            sign_in_as(page, live.url, ROLES[role])
        report, checked = [], 0
        for entry in pages_for(role):
            path = entry.path.format(**live.ids)
            response = page.goto(f"{live.url}{path}")
            assert response.status == entry.status, f"{role} {path}: {response.status}"
            page.wait_for_load_state("load")
            where = f"{role}@{size} {entry.label} {path}"
            report += describe(where, axe_violations(page))
            if size == "phone":
                report += misfits(where, page)
            checked += 1
        print(f"\naxe: {role}@{size}: {checked} pages, {len(report)} report lines")
        assert not report, "WCAG 2.1 A/AA violations, pages not fitting:\n" + "\n".join(report)
    finally:
        context.close()


def _check(page, size: str, where: str) -> list[str]:
    report = describe(f"{where}@{size}", axe_violations(page))
    return report + (misfits(f"{where}@{size}", page) if size == "phone" else [])


@pytest.mark.parametrize("size", SIZES)
def test_states_after_an_action(browser, a11y_live, size):
    """What only an action shows, checked as every page is: axe finds nothing, and on a phone it
    fits."""
    live = a11y_live
    with live.app.app_context():  # 60 old sign-ins: the log has two pages of 50, each with a
        # disabled link (‹ 上一页 on the first, 下一页 › on the last)
        if not db.session.scalar(sa.select(LoginAttempt.id).where(LoginAttempt.username == "guess-0")):
            first = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            db.session.add_all(LoginAttempt(username=f"guess-{n}", address="10.0.0.9",
                                            outcome="unknown_user", at=first + dt.timedelta(minutes=n))
                               for n in range(60))
            db.session.commit()
    context = new_context(browser, size)
    page = context.new_page()
    report = []
    try:
        sign_in_as(page, live.url, "a-1")
        page.click("#site-menu summary")
        assert page.locator("#site-menu").evaluate("d => d.open")
        report += _check(page, size, "account menu open")

        page.goto(f"{live.url}/leads/new")
        form = page.locator("form:has(input[name=name])")
        form.evaluate("f => { f.noValidate = true; }")  # the server's errors, not the browser's
        form.locator("button[type=submit]").last.click()
        page.wait_for_selector(".error-summary")
        report += _check(page, size, "new lead sent back with errors")

        page.goto(f"{live.url}/leads/{live.ids['signed']}/move")
        # a page from before the rules changed: it still offers the move back the officer may
        # not make (today's page offers only allowed moves)
        page.evaluate("""() => { const s = document.querySelector("select[name=to]");
                                 s.add(new Option("洽谈", "negotiation")); s.value = "negotiation"; }""")
        page.fill("textarea[name=reason]", "投资方要求重新商谈")
        page.locator("#main form button[type=submit]").first.click()
        page.wait_for_load_state("load")
        assert "申请退回" in page.inner_text("#main")
        report += _check(page, size, "move back refused: the 申请退回 form")

        page.goto(f"{live.url}/account/tokens")
        page.fill("input[name=name]", "报表脚本")
        page.locator("form:has(input[name=name]) button[type=submit]").click()
        page.wait_for_selector(".copy-button", state="attached")
        report += _check(page, size, "token shown once")

        page.goto(f"{live.url}/imports/leads")
        page.set_input_files("input[type=file]", files=[{
            "name": "leads.csv", "mimeType": "text/csv",
            "buffer": "项目名称,投资方,计划投资(万元),所属镇街,阶段\n"
                      "冷链物流中心,山东冷链有限公司,15000,孟庄镇,洽谈\n"
                      "无名项目,,abc,孟庄镇,谈判中\n".encode()}])
        page.locator("#main form button[type=submit]").first.click()
        page.wait_for_load_state("load")
        assert "冷链物流中心" in page.inner_text("#main")
        report += _check(page, size, "import preview")

        if size == "desktop":  # the dialog a drop or the keyboard opens (the phone picks columns)
            page.goto(f"{live.url}/board")
            card = f".board-card[data-lead-id='{live.ids['lead']}']"
            page.click(f"{card} summary")
            page.locator(f"{card} a[data-move-to]").first.click()
            page.locator("#move-dialog").wait_for(state="visible")
            report += _check(page, size, "board move dialog")

        context.close()
        context = new_context(browser, size)
        page = context.new_page()
        sign_in_as(page, live.url, "admin")
        for path in ("/admin/signins", "/admin/signins?page=2"):
            page.goto(f"{live.url}{path}")
            assert page.locator(".page-link.disabled").count() == 1, path
            report += _check(page, size, f"pager with a disabled link {path}")
        assert not report, "\n".join(report)
    finally:
        context.close()


# --- what axe does not check ---------------------------------------------------------------------

def _luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _rgb(css: str) -> tuple:
    inside = css[css.index("(") + 1:css.index(")")].replace("/", " ").replace(",", " ").split()
    return tuple(round(float(x)) for x in inside[:3])


FOCUS_STYLE = """e => {
    const s = getComputedStyle(e);
    let bg = null;
    for (let n = e.parentElement; n && !bg; n = n.parentElement) {
        const c = getComputedStyle(n).backgroundColor;
        if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") bg = c;
    }
    return {outlineColor: s.outlineColor, outlineWidth: parseFloat(s.outlineWidth),
            outlineStyle: s.outlineStyle, boxShadow: s.boxShadow, around: bg || "rgb(255, 255, 255)"};
}"""


@pytest.mark.parametrize("selector", ["header .nav a", "#main a[href]", "#main input.input[type=text]",
                                      "#main select.input", "#main button.btn-primary"])
def test_focus_indicator_has_three_to_one_contrast(browser, a11y_live, selector):
    """The keyboard focus (a 2 px or thicker outline) contrasts ≥ 3:1 with what is around it."""
    live = a11y_live
    context = new_context(browser, "desktop")
    page = context.new_page()
    try:
        sign_in_as(page, live.url, "a-1")
        page.goto(f"{live.url}/leads/{live.ids['lead']}/edit")
        target = page.locator(selector).first
        target.focus()
        page.keyboard.press("Shift+Tab")  # focus by keyboard: :focus-visible applies
        page.keyboard.press("Tab")
        assert target.evaluate("e => e === document.activeElement")
        style = target.evaluate(FOCUS_STYLE)
        assert style["outlineStyle"] != "none" and style["outlineWidth"] >= 2, style
        ratio = contrast(_rgb(style["outlineColor"]), _rgb(style["around"]))
        assert ratio >= 3, f"{selector}: focus outline {style['outlineColor']} on " \
            f"{style['around']}: {ratio:.2f}:1"
    finally:
        context.close()


FOCUSED_VS_BAR = """() => {
    const e = document.activeElement, bar = document.querySelector(".form-actions-sticky");
    const r = e.getBoundingClientRect(), b = bar.getBoundingClientRect();
    return {inMain: !!e.closest("#main"), inBar: bar.contains(e), top: r.top, bottom: r.bottom,
            barTop: b.top, barBottom: b.bottom, name: e.name || e.id || e.textContent.trim().slice(0, 20)};
}"""


@pytest.mark.parametrize("path", ["/leads/new", "/leads/{lead}/edit", "/targets/"])
def test_sticky_save_bar_never_covers_the_focused_field(browser, a11y_live, path):
    """At 390×844, tabbing through a long form: each focused element is fully visible, never under
    the sticky save bar (``.form-actions-sticky``)."""
    live = a11y_live
    context = new_context(browser, "phone")
    page = context.new_page()
    try:
        sign_in_as(page, live.url, "admin")
        page.goto(f"{live.url}{path.format(**live.ids)}")
        page.locator("#main").evaluate("e => { e.setAttribute('tabindex', '-1'); e.focus(); }")
        covered, seen = [], 0
        for _ in range(150):
            page.keyboard.press("Tab")
            state = page.evaluate(FOCUSED_VS_BAR)
            if not state["inMain"]:
                break
            seen += 1
            under = state["bottom"] > state["barTop"] + 0.5 and state["top"] < state["barBottom"]
            if not state["inBar"] and under:
                covered.append(f"{state['name']} (bottom {state['bottom']:.0f} > bar top "
                               f"{state['barTop']:.0f})")
        assert seen > 5, f"only {seen} fields focused on {path}"
        assert not covered, f"{path}: focused fields under the save bar: {covered}"
    finally:
        context.close()
