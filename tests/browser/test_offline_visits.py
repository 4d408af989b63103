"""In real Chromium on a 390×844 phone, as an officer: the lead page kept by the service worker,
a visit logged with the network off (queued in IndexedDB, "待同步 1 条"), the page reloaded
offline, the connection back: the visit arrives exactly once, also when the sync is cut off
after the server logged it and is run again. After signing out, the next user sees nothing of
the first one's pages or queue."""

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.visits.models import Visit
from tests.browser.conftest import sign_in, wait_until

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
         "locale": "zh-CN", "service_workers": "allow"}


@pytest.fixture
def officer(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def user_id(live, username: str) -> int:
    with live.app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.username == username))


def visits(live) -> list[tuple[str, str]]:
    with live.app.app_context():
        rows = db.session.execute(sa.select(Visit.summary, Visit.client_id)).all()
        db.session.remove()
        return [tuple(row) for row in rows]


def kept(page, uid: int, path: str):
    """Wait until the service worker keeps ``path`` for user ``uid``."""
    wait_until(page, "async ([name, path]) => !!(await (await caches.open(name)).match(path))",
               [f"crm-pages-u{uid}", path])


def controlled(page):
    """Wait until the service worker is active and controls the page. A page whose navigation
    began before the worker activated stays uncontrolled (its ``clients.claim()`` came first):
    it is reloaded, as a user's next page would be."""
    wait_until(page, "async () => !!(await navigator.serviceWorker.ready).active")
    for _ in range(5):
        if page.evaluate("() => navigator.serviceWorker.controller !== null"):
            return
        page.reload()
    wait_until(page, "() => navigator.serviceWorker.controller !== null")


def open_lead_online(page, live, username="a-1"):
    """Sign in, let the service worker take the page over, open the lead (kept with its form)."""
    sign_in(page, live, username)
    controlled(page)
    lead = f"/leads/{live.ids['lead_a']}"
    page.goto(live.url + lead)
    kept(page, user_id(live, username), lead)
    kept(page, user_id(live, username), lead + "/visits")
    return lead


def log_visit_offline(page, live, lead, summary):
    page.context.set_offline(True)
    wait_until(page, "() => !navigator.onLine")
    page.click("#visit label:has-text('电话')")
    page.fill("#visit textarea[name=summary]", summary)
    page.click("#visit button[type=submit]")
    page.wait_for_selector("[data-pending-count='1']")
    assert "待同步 1 条" in page.inner_text("[data-offline-queue]")
    assert visits(live) == []


def test_visit_logged_offline_arrives_once(officer, live):
    page = officer
    lead = open_lead_online(page, live)
    log_visit_offline(page, live, lead, "离线记下：对方同意下周看地")

    # Reloaded offline: the kept copy, its age, and the queue.
    page.reload()
    page.wait_for_selector("[data-pending-count='1']")
    assert page.url == live.url + lead
    assert "离线副本，更新于" in page.inner_text("[data-offline-copy]")
    assert "宠物食品生产基地" in page.inner_text("main h1")
    assert "离线记下：对方同意下周看地" in page.inner_text("[data-offline-queue]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1

    # The connection returns: sent once, removed from the queue.
    page.context.set_offline(False)
    page.wait_for_selector("text=已同步 1 条走访")
    assert page.locator("[data-pending-count]").count() == 0
    rows = visits(live)
    assert len(rows) == 1 and rows[0][0] == "离线记下：对方同意下周看地"
    # Loaded again online: the page shows the visit, nothing is sent twice.
    page.goto(live.url + lead)
    assert "离线记下：对方同意下周看地" in page.inner_text("#timeline")
    assert len(visits(live)) == 1


def test_sync_cut_off_after_the_server_logged_it_is_run_again(officer, live):
    page = officer
    lead = open_lead_online(page, live)
    log_visit_offline(page, live, lead, "同步被打断的走访")

    calls = []

    def cut_off_once(route):
        calls.append(route.request.post_data_json["client_id"])
        if len(calls) == 1:
            assert route.fetch().status == 201  # the server logs the visit and commits …
            route.abort("connectionreset")  # … and the answer never arrives
        else:
            route.continue_()

    page.route("**/visits/sync", cut_off_once)
    page.context.set_offline(False)
    page.wait_for_selector("html[data-sync-runs='1']", state="attached")
    assert len(calls) == 1
    assert page.locator("[data-pending-count='1']").count() == 1  # still queued
    assert len(visits(live)) == 1  # but the server has it

    page.click("[data-sync-now]")  # the retry: the same client_id
    page.wait_for_selector("html[data-sync-runs='2']", state="attached")
    page.wait_for_selector("text=已同步 1 条走访")
    assert len(calls) == 2 and calls[0] == calls[1]
    rows = visits(live)
    assert rows == [("同步被打断的走访", calls[0])]


def test_sign_out_leaves_nothing_for_the_next_user(officer, live):
    page = officer
    lead = open_lead_online(page, live)
    first = user_id(live, "a-1")
    log_visit_offline(page, live, lead, "甲一未同步的走访")
    # Back online, the server unavailable: the visit stays queued.
    page.route("**/visits/sync", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": {}}'))
    page.context.set_offline(False)
    page.wait_for_selector("text=服务器暂时无法处理")
    page.goto(live.url + lead)
    page.wait_for_selector("[data-pending-count='1']")

    page.once("dialog", lambda dialog: dialog.accept())  # "还有 1 条走访未同步 …"
    page.click("#site-menu summary")  # sign-out sits in the account menu
    page.click("form[action$='/logout'] button")
    page.wait_for_url("**/login*")
    sign_in(page, live, "a-2")
    page.goto(live.url + lead)
    assert f"crm-pages-u{first}" not in page.evaluate("caches.keys()")
    queued = page.evaluate("""() => new Promise(resolve => {
        const open = indexedDB.open("crm-offline", 1);
        open.onsuccess = () => {
          const all = open.result.transaction("visits").objectStore("visits").getAll();
          all.onsuccess = () => resolve(all.result.length);
        };
      })""")
    assert queued == 0
    assert page.locator("[data-offline-queue]:visible").count() == 0
    assert "甲一未同步的走访" not in page.content()

    # Offline, a-2 sees only a-2's own copies: the list a-2 never opened has none.
    page.unroute("**/visits/sync")
    kept(page, user_id(live, "a-2"), lead)
    page.context.set_offline(True)
    page.goto(live.url + "/leads/")
    page.wait_for_selector("[data-offline-fallback]")
    page.goto(live.url + lead)
    page.wait_for_selector("[data-offline-copy]")
    assert "甲一未同步的走访" not in page.content()
    assert visits(live) == []


def test_a_form_post_lost_on_the_network_is_queued_by_the_service_worker(officer, live):
    """Online as far as the page knows, but the POST never reaches the server: the service
    worker queues it with the form's own client_id, and the sync delivers it once."""
    page = officer
    lead = open_lead_online(page, live)
    cid = page.input_value("#visit input[name=client_id]")
    lost = []

    def lose_posts(route):
        if route.request.method == "POST":
            lost.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.context.route(f"**{lead}/visits", lose_posts)
    page.fill("#visit textarea[name=summary]", "信号不好时提交的走访")
    page.click("#visit button[type=submit]")
    page.wait_for_selector("text=已同步 1 条走访")
    assert lost and visits(live) == [("信号不好时提交的走访", cid)]


def test_the_officers_own_leads_are_kept_without_opening_them(officer, live):
    page = officer
    sign_in(page, live, "a-1")
    controlled(page)
    page.reload()  # a page the worker answered asks it to keep the officer's own leads
    lead = f"/leads/{live.ids['lead_a']}"
    kept(page, user_id(live, "a-1"), lead)
    kept(page, user_id(live, "a-1"), lead + "/visits")
    page.context.set_offline(True)
    page.goto(live.url + lead)
    page.wait_for_selector("[data-offline-copy]")
    assert "宠物食品生产基地" in page.inner_text("main h1")
    assert "离线副本，更新于" in page.inner_text("[data-offline-copy]")


def test_a_refused_visit_stays_with_its_reason_until_discarded(officer, live):
    page = officer
    lead = open_lead_online(page, live)
    log_visit_offline(page, live, lead, "会被拒绝的走访")
    page.route("**/visits/sync", lambda route: route.fulfill(
        status=422, content_type="application/json",
        body='{"error": {"code": "invalid", "message": "请检查填写的内容", '
             '"fields": {"next_follow_up": ["下次跟进日期不能早于走访日期"]}}}'))
    page.context.set_offline(False)
    page.wait_for_selector("text=被拒绝：下次跟进日期不能早于走访日期")
    page.reload()  # kept across pages, not sent again by itself
    page.wait_for_selector("text=被拒绝：下次跟进日期不能早于走访日期")
    assert page.locator("[data-pending-count='1']").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-discard]")
    page.wait_for_selector("[data-pending-count]", state="detached")
    assert visits(live) == []
