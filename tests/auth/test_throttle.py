"""Failed sign-ins are limited per account and per address, counted in the database; the log."""

import collections
import datetime as dt
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import sqlalchemy as sa
import time_machine
from werkzeug.serving import make_server

from crm.auth import throttle
from crm.auth.models import LoginAttempt
from crm.clock import utcnow
from crm.extensions import db
from tests import factories
from tests.conftest import make_app
from tests.querycount import count_queries

RIGHT = factories.PASSWORD


def attempt(client, username, password, address="192.0.2.10", agent="Mozilla/5.0 (test)"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers={"User-Agent": agent})


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def outcomes(username=None):
    stmt = sa.select(LoginAttempt.outcome).order_by(LoginAttempt.id)
    if username is not None:
        stmt = stmt.where(LoginAttempt.username == username)
    db.session.expire_all()
    return list(db.session.scalars(stmt))


def add_attempts(n, *, username="a-1", address="192.0.2.10", outcome="bad_password", at=None):
    at = at or utcnow()
    db.session.add_all(LoginAttempt(at=at, username=username, address=address, outcome=outcome)
                       for _ in range(n))
    db.session.commit()


def test_eleventh_attempt_is_refused_even_with_the_right_password(client, world):
    for i in range(10):
        response = attempt(client, "a-1", f"wrong-{i}")
        assert response.status_code == 200
        assert "用户名或密码错误" in response.get_data(as_text=True)
    response = attempt(client, "a-1", RIGHT)
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "登录失败次数过多" in page
    assert "请 15 分钟后再试" in page
    assert 'name="username"' in page and 'name="password"' in page  # the form is still there
    assert 840 < int(response.headers["Retry-After"]) <= 900
    assert not signed_in(client)
    assert outcomes("a-1") == ["bad_password"] * 10 + ["throttled"]
    print("throttle: 10 failures accepted, attempt 11 refused (right password, HTTP 429)")


def test_a_few_failures_left_are_announced(client, world):
    for i in range(6):
        attempt(client, "a-1", f"wrong-{i}")
    page = attempt(client, "a-1", "wrong-7").get_data(as_text=True)
    assert "再失败 3 次，该账号将暂停登录 15 分钟" in page
    page = attempt(client, "a-1", "wrong-8").get_data(as_text=True)
    assert "再失败 2 次" in page


def test_the_limit_lifts_when_the_window_has_passed(client, world):
    start = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for i in range(10):
            attempt(client, "a-1", f"wrong-{i}")
        clock.shift(dt.timedelta(minutes=14))
        response = attempt(client, "a-1", RIGHT)
        assert response.status_code == 429
        assert "请 1 分钟后再试" in response.get_data(as_text=True)
        clock.shift(dt.timedelta(minutes=1, seconds=1))
        response = attempt(client, "a-1", RIGHT)
        assert response.status_code == 302
        assert signed_in(client)
    assert outcomes("a-1") == ["bad_password"] * 10 + ["throttled", "success"]


def test_refusals_do_not_extend_the_pause(client, world):
    """Someone who keeps trying does not lock the owner out for ever."""
    start = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for i in range(10):
            attempt(client, "a-1", f"wrong-{i}")
        for _ in range(14):
            clock.shift(dt.timedelta(minutes=1))
            assert attempt(client, "a-1", "still-guessing").status_code == 429
        clock.shift(dt.timedelta(minutes=1, seconds=1))
        assert attempt(client, "a-1", RIGHT).status_code == 302
    assert outcomes("a-1") == ["bad_password"] * 10 + ["throttled"] * 14 + ["success"]


def test_old_failures_do_not_count(client, world):
    add_attempts(10, at=utcnow() - dt.timedelta(minutes=16))
    add_attempts(9)
    assert attempt(client, "a-1", RIGHT).status_code == 302


def test_unknown_usernames_and_other_spellings_share_the_rule(app, world):
    c = app.test_client()
    for i in range(10):
        attempt(c, "nobody", f"wrong-{i}")
    response = attempt(c, "nobody", "anything")
    assert response.status_code == 429  # the same answer as for a real account: nothing revealed
    for i in range(10):
        attempt(c, "A-1 " if i % 2 else " a-1", f"wrong-{i}")
    assert attempt(c, "a-1", RIGHT).status_code == 429
    assert outcomes("nobody") == ["unknown_user"] * 10 + ["throttled"]


def test_a_success_clears_the_account_count(client, world):
    for i in range(9):
        attempt(client, "a-1", f"wrong-{i}")
    assert attempt(client, "a-1", RIGHT).status_code == 302
    client.post("/logout")
    for i in range(9):
        attempt(client, "a-1", f"wrong-again-{i}")
    assert attempt(client, "a-1", RIGHT).status_code == 302


def test_per_address_limit_across_usernames(app, world):
    c = app.test_client()
    for i in range(30):
        assert attempt(c, f"guess-{i}", "wrong", address="198.51.100.7").status_code == 200
    refused = attempt(c, "a-1", RIGHT, address="198.51.100.7")
    assert refused.status_code == 429
    assert "从您的网络地址登录失败次数过多" in refused.get_data(as_text=True)
    other = app.test_client()
    assert attempt(other, "a-1", RIGHT, address="198.51.100.8").status_code == 302


def test_a_success_does_not_clear_the_address_count(app, world):
    c = app.test_client()
    for i in range(29):
        attempt(c, f"guess-{i}", "wrong", address="198.51.100.7")
    assert attempt(c, "a-1", RIGHT, address="198.51.100.7").status_code == 302
    c.post("/logout")
    attempt(c, "guess-x", "wrong", address="198.51.100.7")
    assert attempt(c, "a-1", RIGHT, address="198.51.100.7").status_code == 429


def test_an_attempt_being_checked_elsewhere_counts(client, world):
    """Another worker's attempt in progress ('pending') counts: parallel guesses gain nothing."""
    add_attempts(9)
    add_attempts(1, outcome="pending", address="203.0.113.5")
    assert attempt(client, "a-1", RIGHT).status_code == 429


def test_two_app_instances_share_the_count(app, client, database_url, tmp_path, world):
    """Two workers (two create_app on one database) see the same failures."""
    other_app = make_app(tmp_path / "other", database_url)
    other = other_app.test_client()
    try:
        for i in range(5):
            attempt(client, "a-1", f"wrong-{i}", address="192.0.2.1")
            attempt(other, "a-1", f"wrong-{i}", address="192.0.2.2")
        assert attempt(other, "a-1", RIGHT, address="192.0.2.3").status_code == 429
        assert attempt(client, "a-1", RIGHT, address="192.0.2.4").status_code == 429
    finally:
        with other_app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert outcomes("a-1") == ["bad_password"] * 10 + ["throttled"] * 2


@pytest.mark.slow  # a live server
def test_concurrent_guesses_cannot_pass_the_limit(app, world):
    """8 threads guess at once against a live server: still no more than 10 failures counted."""
    app.config["CRM_LOGIN_HASH_QUEUE"] = 8  # every guess reaches the count (none refused as busy)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/login"
    codes = collections.Counter()

    def guesser(k):
        for i in range(5):
            body = urllib.parse.urlencode({"username": "a-1", "password": f"guess-{k}-{i}"}).encode()
            try:
                codes[urllib.request.urlopen(url, body, timeout=30).status] += 1  # noqa: S310
            except urllib.error.HTTPError as exc:
                codes[exc.code] += 1

    try:
        threads = [threading.Thread(target=guesser, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.shutdown()
    counted = collections.Counter(outcomes("a-1"))
    assert set(codes) <= {200, 429} and sum(codes.values()) == 40
    assert counted["bad_password"] <= 10 and counted["pending"] == 0
    # A guess that waited longer than HASH_WAIT for the hashing slot (a slow machine) is refused
    # as busy without a row; every other guess is logged.
    busy = 40 - counted["bad_password"] - counted["throttled"]
    assert codes[429] == counted["throttled"] + busy >= 30
    print(f"throttle: 40 concurrent guesses from 8 threads, {counted['bad_password']} checked, "
          f"{counted['throttled']} refused")


def test_a_flood_beyond_the_hashing_queue_is_refused_at_once_without_the_database(app, world):
    """With the slots taken and the queue full, a sign-in is answered 429 at once: no wait, no
    row in the sign-in log, no failure counted; when a slot frees, sign-in works again."""
    app.config.update(CRM_LOGIN_HASH_SLOTS=1, CRM_LOGIN_HASH_QUEUE=0)
    with app.app_context():
        hashing = throttle.gate()
        assert hashing.enter()  # another sign-in is hashing
    client = app.test_client()
    try:
        started = time.monotonic()
        response = attempt(client, "a-1", RIGHT)
        # not the queue's wait (up to 3 s): well under it even on a busy 2-core machine
        assert time.monotonic() - started < 2.5
        assert response.status_code == 429
        assert "登录请求过多" in response.get_data(as_text=True)
        assert 1 <= int(response.headers["Retry-After"]) <= 5
        assert outcomes("a-1") == []
    finally:
        hashing.leave()
    assert attempt(client, "a-1", RIGHT).status_code == 302
    assert outcomes("a-1") == ["success"]


def test_the_hashing_queue_lets_a_few_wait_for_a_slot(app):
    """Colleagues signing in at the same moment wait for the slot instead of being refused."""
    app.config.update(CRM_LOGIN_HASH_SLOTS=1, CRM_LOGIN_HASH_QUEUE=1)
    with app.app_context():
        hashing = throttle.gate()
    assert hashing.enter()
    entered = []
    waiter = threading.Thread(target=lambda: entered.append(hashing.enter(wait=5)))
    waiter.start()
    time.sleep(0.2)
    assert hashing.enter(wait=5) is False  # the queue (1) is full: refused at once
    hashing.leave()
    waiter.join()
    assert entered == [True]
    hashing.leave()


class TestSmallerLimits:
    @pytest.fixture
    def app_config(self):
        return {"CRM_LOGIN_MAX_FAILURES_ACCOUNT": 3, "CRM_LOGIN_WINDOW_MINUTES": 5}

    def test_the_settings_set_the_limit_and_window(self, client, world):
        for i in range(3):
            attempt(client, "a-1", f"wrong-{i}")
        response = attempt(client, "a-1", RIGHT)
        assert response.status_code == 429
        assert "请 5 分钟后再试" in response.get_data(as_text=True)


def test_every_outcome_is_logged(app, world):
    world.off_a2.active = False
    db.session.commit()
    c = app.test_client()
    attempt(c, "a-1", RIGHT, address="192.0.2.20", agent="Phone/1.0")
    attempt(app.test_client(), "a-1", "wrong", address="192.0.2.21")
    attempt(app.test_client(), "ghost", "wrong", address="192.0.2.22")
    attempt(app.test_client(), "a-2", RIGHT, address="192.0.2.23")
    add_attempts(10, username="b-1")
    attempt(app.test_client(), "b-1", RIGHT, address="192.0.2.24", agent="x" * 400)
    db.session.expire_all()
    rows = db.session.scalars(
        sa.select(LoginAttempt).where(LoginAttempt.address.like("192.0.2.2%"))
        .order_by(LoginAttempt.id)).all()
    got = [(r.username, r.user_id, r.address, r.outcome) for r in rows]
    assert got == [
        ("a-1", world.off_a1.id, "192.0.2.20", "success"),
        ("a-1", world.off_a1.id, "192.0.2.21", "bad_password"),
        ("ghost", None, "192.0.2.22", "unknown_user"),
        ("a-2", world.off_a2.id, "192.0.2.23", "inactive"),
        ("b-1", world.off_b1.id, "192.0.2.24", "throttled"),
    ]
    assert rows[0].user_agent == "Phone/1.0"
    assert len(rows[-1].user_agent) == 255
    assert not signed_in(app.test_client())
    # the inactive account gets the same answer as a wrong password
    assert "用户名或密码错误" in attempt(app.test_client(), "a-2", RIGHT).get_data(as_text=True)


def test_very_long_usernames_are_cut_in_the_log(client, world):
    response = attempt(client, "x" * 500, "wrong")
    assert response.status_code == 200
    assert db.session.scalar(sa.select(LoginAttempt.username)) == "x" * 64


# --- the sign-in log page -----------------------------------------------------------------------

def test_only_admins_see_the_sign_in_log(app, world):
    for username in ("viewer", "a-head", "a-1", "b-head"):
        c = app.test_client()
        attempt(c, username, RIGHT)
        assert c.get("/admin/signins").status_code == 403
        assert "/admin/signins" not in c.get("/").get_data(as_text=True)
    assert app.test_client().get("/admin/signins").status_code == 302  # to the sign-in page
    admin = app.test_client()
    attempt(admin, "admin", RIGHT)
    assert 'href="/admin/signins"' in admin.get("/").get_data(as_text=True)
    assert admin.get("/admin/signins").status_code == 200


def test_the_log_lists_attempts_newest_first_with_filters(client, world):
    base = utcnow() - dt.timedelta(hours=2)
    db.session.add_all([
        LoginAttempt(at=base, username="a-1", user_id=world.off_a1.id, address="192.0.2.1",
                     user_agent="Firefox", outcome="success"),
        LoginAttempt(at=base + dt.timedelta(minutes=1), username="a-1", user_id=world.off_a1.id,
                     address="192.0.2.2", outcome="bad_password"),
        LoginAttempt(at=base + dt.timedelta(minutes=2), username="ghost", address="192.0.2.2",
                     outcome="unknown_user"),
    ])
    db.session.commit()
    attempt(client, "admin", RIGHT, address="192.0.2.9")
    page = client.get("/admin/signins").get_data(as_text=True)
    body = page[page.index("<tbody>"):]
    assert body.index("192.0.2.9") < body.index("ghost") < body.index("密码错误") < body.index("Firefox")
    assert "共 4 条" in page
    assert world.off_a1.display_name in body  # the account behind the username

    page = client.get("/admin/signins?username=A-1").get_data(as_text=True)
    assert "共 2 条" in page and "ghost" not in page[page.index("<tbody>"):]
    page = client.get("/admin/signins?address=192.0.2.2").get_data(as_text=True)
    assert "共 2 条" in page and "Firefox" not in page
    page = client.get("/admin/signins?outcome=unknown_user").get_data(as_text=True)
    assert "共 1 条" in page and "ghost" in page
    page = client.get("/admin/signins?address=192.0.2.2&outcome=bad_password").get_data(as_text=True)
    assert "共 1 条" in page
    page = client.get("/admin/signins?outcome=bogus&page=abc").get_data(as_text=True)
    assert "共 4 条" in page  # unknown filter values are ignored, not an error
    page = client.get("/admin/signins?username=nobody-at-all").get_data(as_text=True)
    assert "没有符合条件的登录记录" in page


def test_the_log_is_paginated_and_its_query_count_does_not_grow(client, world):
    attempt(client, "admin", RIGHT)

    def measure():
        with count_queries() as c:
            response = client.get("/admin/signins")
        assert response.status_code == 200
        return c["n"], response.get_data(as_text=True)

    few, _ = measure()
    start = utcnow() - dt.timedelta(days=1)
    db.session.add_all(
        LoginAttempt(at=start + dt.timedelta(seconds=i), username=f"user-{i:03d}",
                     user_id=world.off_b1.id if i % 2 else None, address=f"10.0.{i // 250}.{i % 250}",
                     outcome="bad_password")
        for i in range(119))
    db.session.commit()
    many, page = measure()
    assert few == many
    assert page.count('<tr class="signin-') == 50
    assert "共 120 条" in page
    assert "user-118" in page and "user-068" not in page  # newest first
    page3 = client.get("/admin/signins?page=3").get_data(as_text=True)
    assert page3.count('<tr class="signin-') == 20
    assert "user-000" in page3
    print(f"signins page: {many} queries with 5 or 120 rows")


# --- the client's address ------------------------------------------------------------------------

def proxied(client, username, password, client_address):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": "127.0.0.1"},
                       headers={"X-Forwarded-For": client_address})


def test_a_client_cannot_choose_its_address_by_header(client, world):
    proxied(client, "a-1", "wrong", "198.51.100.50")
    assert db.session.scalar(sa.select(LoginAttempt.address)) == "127.0.0.1"


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self):
        return {"CRM_PROXY_FIX": 1}

    def test_the_forwarded_address_is_logged_and_limited(self, app, world):
        c = app.test_client()
        for i in range(30):
            proxied(c, f"guess-{i}", "wrong", "198.51.100.50")
        assert proxied(c, "a-1", RIGHT, "198.51.100.50").status_code == 429
        assert proxied(app.test_client(), "a-1", RIGHT, "198.51.100.51").status_code == 302
        db.session.expire_all()
        addresses = set(db.session.scalars(sa.select(LoginAttempt.address)))
        assert addresses == {"198.51.100.50", "198.51.100.51"}
