"""In real Chromium: axe-core (tests/browser/vendor/axe.min.js) on every page of tests/pages.py,
for every role, at 1366×900 and 390×844: no violation of the WCAG 2.0/2.1 A and AA rules. Also
what axe cannot see: the focus indicator's contrast, and the sticky save bar never covering the
focused field. To add a page, add it to ``PAGES`` in tests/pages.py.
"""

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from crm.extensions import db
from tests import factories
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
            report += describe(f"{role}@{size} {entry.label} {path}", axe_violations(page))
            checked += 1
        print(f"\naxe: {role}@{size}: {checked} pages, {len(report)} report lines")
        assert not report, "WCAG 2.1 A/AA violations:\n" + "\n".join(report)
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
