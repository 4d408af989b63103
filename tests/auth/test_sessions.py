"""Sign-out and password change end every session and remember-cookie; cookie flags."""

import datetime as dt
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.extensions import db
from tests import factories

REMEMBER = "remember_token"


def sign_in(app, username="a-1", password=factories.PASSWORD, remember=False):
    client = app.test_client()
    data = {"username": username, "password": password}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def with_cookie(app, value):
    """A browser that has only a remember-cookie (its session cookie expired)."""
    client = app.test_client()
    client.set_cookie(REMEMBER, value)
    return client


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def set_cookie_headers(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_a_remember_cookie_alone_signs_in(app, world):
    cookie = sign_in(app, remember=True).get_cookie(REMEMBER).value
    assert signed_in(with_cookie(app, cookie))
    assert not signed_in(with_cookie(app, cookie[:-3] + "xyz"))  # tampered


def test_sign_out_ends_only_this_browsers_session(app, world):
    phone = sign_in(app, remember=True)
    cookie = phone.get_cookie(REMEMBER).value
    desk = sign_in(app)
    response = desk.post("/logout", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "您已退出登录" in text and "其他设备" not in text
    assert not signed_in(desk)
    assert signed_in(phone) and signed_in(with_cookie(app, cookie))


def test_sign_out_everywhere_ends_every_session_and_remember_cookie(app, world):
    phone = sign_in(app, remember=True)
    cookie = phone.get_cookie(REMEMBER).value
    desk = sign_in(app)
    assert signed_in(phone) and signed_in(desk) and signed_in(with_cookie(app, cookie))
    assert "退出所有设备" in desk.get("/password").get_data(as_text=True)

    response = desk.post("/logout", data={"everywhere": "1"}, follow_redirects=True)
    assert "您已在所有设备上退出登录" in response.get_data(as_text=True)
    assert not signed_in(desk)
    assert not signed_in(phone)
    assert not signed_in(with_cookie(app, cookie))
    entry = db.session.scalar(sa.select(AuditEntry)
                              .where(AuditEntry.action == "auth.logout_everywhere"))
    assert entry is not None and entry.user_id == world.off_a1.id
    # other accounts are untouched, and signing in again works
    assert signed_in(sign_in(app, "a-2"))
    assert signed_in(sign_in(app))


def test_a_page_that_needs_sign_in_says_so_in_chinese(client, world):
    response = client.get("/leads/", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "请先登录" in text and "Please log in" not in text


def test_sign_out_clears_this_browsers_remember_cookie(app, world):
    client = sign_in(app, remember=True)
    response = client.post("/logout")
    assert set_cookie_headers(response)[REMEMBER].startswith(f"{REMEMBER}=;")
    assert client.get_cookie(REMEMBER) is None


def test_sign_out_is_audited(app, world):
    sign_in(app).post("/logout")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "auth.logout"))
    assert entry is not None and entry.user_id == world.off_a1.id


def test_sign_out_without_a_session_does_nothing_bad(client, world):
    response = client.post("/logout")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))
                             .where(AuditEntry.action == "auth.logout")) == 0


def test_password_change_ends_other_sessions_and_remember_cookies(app, world):
    phone = sign_in(app, remember=True)
    old_cookie = phone.get_cookie(REMEMBER).value
    desk = sign_in(app, remember=True)
    desk_cookie = desk.get_cookie(REMEMBER).value
    response = desk.post("/password", data={
        "current": factories.PASSWORD, "password": "river-stone-2031", "confirm": "river-stone-2031"})
    assert response.status_code == 302
    assert signed_in(desk)  # this browser stays signed in ...
    new_cookie = desk.get_cookie(REMEMBER).value
    assert new_cookie != desk_cookie  # ... and remembered, with a new cookie
    assert signed_in(with_cookie(app, new_cookie))
    assert not signed_in(phone)
    assert not signed_in(with_cookie(app, old_cookie))
    assert not signed_in(with_cookie(app, desk_cookie))
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "auth.password_change"))
    assert entry is not None and entry.user_id == world.off_a1.id


def test_a_deactivated_user_is_signed_out_everywhere(app, world):
    client = sign_in(app, remember=True)
    cookie = client.get_cookie(REMEMBER).value
    world.off_a1.active = False
    db.session.commit()
    assert not signed_in(client)
    assert not signed_in(with_cookie(app, cookie))


def test_session_and_remember_cookie_flags(app, world):
    client = app.test_client()
    response = client.post("/login", data={"username": "a-1", "password": factories.PASSWORD,
                                           "remember": "y"})
    cookies = set_cookie_headers(response)
    for name in ("session", REMEMBER):
        assert "HttpOnly" in cookies[name]
        assert "SameSite=Lax" in cookies[name]
        assert "Secure" not in cookies[name]  # CRM_SESSION_COOKIE_SECURE is off by default
    assert "Expires" not in cookies["session"]  # the session ends with the browser
    expires = parsedate_to_datetime(cookies[REMEMBER].split("Expires=")[1].split(";")[0])
    days = (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    assert 13.9 < days <= 14.0


class TestBehindTls:
    @pytest.fixture
    def app_config(self):
        return {"CRM_SESSION_COOKIE_SECURE": True, "CRM_REMEMBER_DAYS": 3}

    def test_cookies_are_secure_and_the_duration_is_a_setting(self, app, world):
        response = app.test_client().post("/login", data={
            "username": "a-1", "password": factories.PASSWORD, "remember": "y"})
        cookies = set_cookie_headers(response)
        assert "; Secure" in cookies["session"] and "; Secure" in cookies[REMEMBER]
        expires = parsedate_to_datetime(cookies[REMEMBER].split("Expires=")[1].split(";")[0])
        assert 2.9 < (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400 <= 3.0


def test_the_session_nonce_changes_only_on_sign_out_everywhere(app, world):
    before = world.off_a1.session_nonce
    sign_in(app).post("/logout")
    db.session.expire_all()
    assert db.session.get(User, world.off_a1.id).session_nonce == before
    sign_in(app).post("/logout", data={"everywhere": "1"})
    db.session.expire_all()
    assert db.session.get(User, world.off_a1.id).session_nonce != before
