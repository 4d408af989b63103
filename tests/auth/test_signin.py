"""Sign-in, sign-out, CSRF, safe redirects, password change."""

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from tests import factories


def test_sign_in_and_out(client, auth, world):
    assert client.get("/").status_code == 302
    response = auth.login("a-1")
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert "欢迎" in page.get_data(as_text=True)
    auth.logout()
    assert client.get("/").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(client, auth, world):
    wrong = auth.login("a-1", "wrong-password").get_data(as_text=True)
    unknown = auth.login("nobody", "wrong-password").get_data(as_text=True)
    assert "用户名或密码错误" in wrong
    assert "用户名或密码错误" in unknown
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_sign_in(client, auth, world):
    world.off_a1.active = False
    db.session.commit()
    auth.login("a-1")
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["//elsewhere.example/x", "https://elsewhere.example/",
                                    "/\\elsewhere.example", "javascript:alert(1)"])
def test_next_never_leaves_the_site(client, auth, world, target):
    response = client.post("/login", data={
        "username": "a-1", "password": factories.PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_on_site_is_followed(client, world):
    response = client.post("/login", data={
        "username": "a-1", "password": factories.PASSWORD, "next": "/leads/?stage=signed"})
    assert response.headers["Location"] == "/leads/?stage=signed"


def test_passwords_are_hashed(world):
    stored = db.session.scalar(sa.select(User.password_hash).where(User.username == "a-1"))
    assert factories.PASSWORD not in stored
    assert stored.startswith(("pbkdf2:", "scrypt:"))


def test_password_change_ends_other_sessions(app, world):
    first, second = app.test_client(), app.test_client()
    for c in (first, second):
        c.post("/login", data={"username": "a-1", "password": factories.PASSWORD})
        assert c.get("/").status_code == 200
    response = first.post("/password", data={
        "current": factories.PASSWORD, "password": "new-password-9", "confirm": "new-password-9"})
    assert response.status_code == 302
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 302
    fresh = app.test_client()
    fresh.post("/login", data={"username": "a-1", "password": "new-password-9"})
    assert fresh.get("/").status_code == 200


def test_password_change_refuses_wrong_current_and_short(client, auth, world):
    auth.login("a-1")
    r = client.post("/password", data={"current": "nope", "password": "new-password-9",
                                       "confirm": "new-password-9"})
    assert "当前密码不正确" in r.get_data(as_text=True)
    r = client.post("/password", data={"current": factories.PASSWORD, "password": "short",
                                       "confirm": "short"})
    assert "密码至少8位" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(User).where(User.username == "a-1")).check_password(
        factories.PASSWORD)


def test_session_cookie_flags(client, world):
    response = client.post("/login", data={"username": "a-1", "password": factories.PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_language_switch_is_kept_in_profile(client, auth, world):
    auth.login("a-1")
    assert "首页" in client.get("/").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "next": "/"})
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.locale).where(User.username == "a-1")) == "en"


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_form_without_token_is_refused(self, client, world):
        response = client.post("/login", data={"username": "a-1", "password": factories.PASSWORD})
        assert response.status_code == 400
        assert client.get("/").status_code == 302

    def test_change_without_token_is_refused(self, app, world):
        import re

        c = app.test_client()
        page = c.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        r = c.post("/login", data={"username": "a-1", "password": factories.PASSWORD,
                                   "csrf_token": token})
        assert r.status_code == 302
        lead_id = world.lead_a.id
        r = c.post(f"/leads/{lead_id}/edit", data={"name": "改名", "company": "x", "version": 1,
                                                   "investment_wan": "1"})
        assert r.status_code == 400
        db.session.expire_all()
        assert world.lead_a.name == "宠物食品生产基地"


def test_english_is_a_switch_and_chinese_the_default(client, auth, world):
    auth.login("a-1")
    assert "项目" in client.get("/leads/").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "next": "/leads/"})
    english = client.get("/leads/").get_data(as_text=True)
    assert "Home" in english and "首页" not in english
    assert "Contact" in client.get(f"/leads/{world.lead_a.id}").get_data(as_text=True)


def test_home_page_differs_by_role(app, world):
    pages = {}
    for username in ("admin", "a-1", "a-head"):
        c = app.test_client()
        c.post("/login", data={"username": username, "password": factories.PASSWORD})
        pages[username] = c.get("/").get_data(as_text=True)
    assert "逾期跟进" in pages["a-1"] and "我的项目" in pages["a-1"]
    assert "税郭镇" in pages["admin"] and "孟庄镇" in pages["admin"]  # every unit side by side
    assert "税郭镇" not in pages["a-1"] and "税郭镇" not in pages["a-head"]
    assert len({pages["admin"], pages["a-1"], pages["a-head"]}) == 3


def test_the_plain_sign_in_page_is_served_from_memory_with_each_visitors_own_token(app, world):
    """The page of no query and no message is rendered once; each visitor still gets their own
    CSRF token, and it signs them in (CSRF on)."""
    import re

    app.config["WTF_CSRF_ENABLED"] = True
    tokens = []
    for _ in range(2):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert "\x00" not in page and page.count(token) >= 2  # the form's and the language switch's
        tokens.append(token)
        response = client.post("/login", data={"csrf_token": token, "username": "a-1",
                                               "password": factories.PASSWORD})
        assert response.status_code == 302
    assert tokens[0] != tokens[1]
