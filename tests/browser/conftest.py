"""A live server on loopback and a real Chromium (Debian's) driven by Playwright."""

import os
import shutil
import threading
import time

import pytest
from werkzeug.serving import make_server

from crm.extensions import db
from tests import factories
from tests.conftest import make_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_until(page, expression: str, arg=None, timeout: float = 15.0, interval: float = 0.1):
    """Poll ``expression`` (a function, may be async) through ``page.evaluate`` until truthy.

    Playwright's ``wait_for_function`` builds its predicate with ``eval`` inside the page, which
    the app's Content-Security-Policy (no 'unsafe-eval') forbids; ``evaluate`` goes through the
    DevTools protocol and is not subject to it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(expression, arg):
                return
        except Exception as error:  # a navigation in flight destroys the context: poll again
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {expression}")
        time.sleep(interval)


#: How a page sits on a phone: the document's overflow, the top bar's height (0 on pages without
#: one: sign-in, the wall screen), elements wider than the screen outside a marked scroller, and
#: the scrollers (each a named region the keyboard reaches).
FIT = """() => {
  const width = document.documentElement.clientWidth;
  const loose = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".scroller, .screen-scroller, .board, svg, script, style, template")) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) loose.push(el.tagName + "." + el.className);
  }
  const bar = document.querySelector(".topbar");
  const scrollers = [...document.querySelectorAll(".scroller")].map(s => ({
    role: s.getAttribute("role"), label: s.getAttribute("aria-label"), tab: s.tabIndex}));
  return {overflow: document.documentElement.scrollWidth - width, loose: loose.slice(0, 5),
          header: bar ? bar.getBoundingClientRect().height : 0, scrollers};
}"""


def misfits(where: str, page) -> list[str]:
    """What keeps the page from fitting a phone, as report lines (none when it fits)."""
    fit = page.evaluate(FIT)
    lines = []
    if fit["overflow"] > 1 or fit["loose"]:
        lines.append(f"{where}: scrolls sideways by {fit['overflow']} px: {fit['loose']}")
    if fit["header"] > 120:
        lines.append(f"{where}: top bar {fit['header']:.0f} px high (at most 120)")
    for scroller in fit["scrollers"]:
        if not (scroller["role"] == "region" and scroller["label"] and scroller["tab"] == 0):
            lines.append(f"{where}: a scroller the keyboard cannot reach by name: {scroller}")
    return lines


@pytest.fixture
def live(tmp_path):
    """The app on a real SQLite file, served on a free loopback port, with a small world."""
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'live.sqlite3'}")
    with app.app_context():
        db.create_all()
        world = factories.build_world()
        db.session.commit()
        ids = {"lead_a": world.lead_a.id}
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.app = app
    server.ids = ids
    yield server
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = "Chromium is not installed (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "playwright is not installed"
    if reason:
        if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def sign_in(page, live, username):
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
