"""Admin user management: list, create, edit, deactivate, reactivate, reset password; guards; audit."""

import json
import re

import pytest
import sqlalchemy as sa

from crm.admin import services
from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.auth.services import issue_token
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from tests import factories
from tests.querycount import count_queries

NEW = {"username": "c-1", "display_name": "张三", "email": "zhangsan@example.test",
       "role": "officer", "township_id": "", "password": "Tiger-lily-42", "confirm": "Tiger-lily-42"}


def _admin_routes(world) -> list[tuple[str, str]]:
    uid = world.off_a1.id
    return [
        ("GET", "/admin/users"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
        ("GET", f"/admin/users/{uid}"), ("GET", f"/admin/users/{uid}/edit"),
        ("POST", f"/admin/users/{uid}/edit"), ("POST", f"/admin/users/{uid}/deactivate"),
        ("POST", f"/admin/users/{uid}/reactivate"), ("GET", f"/admin/users/{uid}/password"),
        ("POST", f"/admin/users/{uid}/password"), ("GET", "/admin/tokens"),
        ("POST", "/admin/tokens/1/revoke"),
    ]


def _signed_in(app, username, password=factories.PASSWORD):
    c = app.test_client()
    r = c.post("/login", data={"username": username, "password": password})
    assert r.status_code == 302 and r.headers["Location"] == "/", f"{username} could not sign in"
    return c


def _entries(action, user_id=None):
    stmt = sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    if user_id is not None:
        stmt = stmt.where(AuditEntry.object_type == "user", AuditEntry.object_id == user_id)
    return list(db.session.scalars(stmt))


def _user(username) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


@pytest.mark.parametrize("username", ["viewer", "a-head", "a-1"])
def test_non_admins_get_403_on_every_admin_route(app, world, username):
    before = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    c = _signed_in(app, username)
    for method, url in _admin_routes(world):
        r = c.open(url, method=method, data={"role": "viewer", "display_name": "x",
                                              "email": "x@example.test", "generate": "y"})
        assert r.status_code == 403, (method, url, r.status_code)
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == before
    assert _user("a-1").active and _user("a-1").role == "officer"
    assert "/admin/users" not in c.get("/").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    for method, url in _admin_routes(world):
        r = client.open(url, method=method)
        assert r.status_code == 302 and "/login" in r.headers["Location"], (method, url)


def test_admin_sees_the_nav_link_and_the_list(client, auth, world):
    auth.login("admin")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/admin/users"' in home
    page = client.get("/admin/users").get_data(as_text=True)
    assert "共 7 个账号" in page
    for name in ("admin", "viewer", "a-head", "a-1", "b-1"):
        assert f">{name}</a>" in page


def test_list_search_and_filters(client, auth, world):
    auth.login("admin")

    def names(query):
        page = client.get(f"/admin/users?{query}").get_data(as_text=True)
        return set(re.findall(r'<a href="/admin/users/\d+">([^<]+)</a>', page))

    assert names("q=head") == {"a-head", "b-head"}
    assert names("q=B-1%40EXAMPLE") == {"b-1"}  # email, any case
    assert names("q=%25") == set()  # a literal %, not a wildcard
    assert names(f"township_id={world.a.id}") == {"a-head", "a-1", "a-2"}
    assert names("role=officer") == {"a-1", "a-2", "b-1"}
    assert names(f"role=officer&township_id={world.b.id}") == {"b-1"}
    world.off_a2.active = False
    db.session.commit()
    assert names("active=0") == {"a-2"}
    assert "a-2" not in names("active=1")
    # Nonsense filters are ignored, never an error.
    r = client.get("/admin/users?township_id=abc&role=king&active=maybe&page=-3")
    assert r.status_code == 200 and "共 7 个账号" in r.get_data(as_text=True)


def test_list_runs_the_same_number_of_queries_for_more_users(client, auth, world):
    auth.login("admin")

    def queries():
        with count_queries() as c:
            assert client.get("/admin/users").status_code == 200
        return c["n"]

    few = queries()
    for i in range(30):
        factories.user(f"extra-{i}", "officer", world.a if i % 2 else world.b)
    db.session.commit()
    assert queries() == few
    page = client.get("/admin/users?page=1").get_data(as_text=True)
    assert "共 37 个账号" in page


def test_create_user_with_a_password(app, client, auth, world):
    auth.login("admin")
    r = client.post("/admin/users/new", data={**NEW, "township_id": str(world.a.id)})
    assert r.status_code == 302
    user = _user("c-1")
    assert r.headers["Location"] == f"/admin/users/{user.id}"
    assert (user.display_name, user.email, user.role, user.township_id, user.active) == (
        "张三", "zhangsan@example.test", "officer", world.a.id, True)
    _signed_in(app, "c-1", "Tiger-lily-42")
    [entry] = _entries("user.create", user.id)
    assert entry.user_id == world.admin.id
    assert entry.changes == {
        "username": [None, "c-1"], "display_name": [None, "张三"],
        "email": [None, "zhangsan@example.test"], "role": [None, "officer"],
        "township": [None, "孟庄镇"], "active": [None, True]}
    stored = json.dumps(entry.changes)
    assert "Tiger-lily-42" not in stored and user.password_hash not in stored


def test_create_user_with_a_generated_password_shown_once(app, client, auth, world):
    auth.login("admin")
    r = client.post("/admin/users/new", data={**NEW, "role": "viewer", "password": "", "confirm": "",
                                              "generate": "y"})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="secret" class="input" type="text" value="([^"]+)"',
                         r.get_data(as_text=True)).group(1)
    assert len(password) >= 12
    user = _user("c-1")
    assert user.role == "viewer" and user.township_id is None
    _signed_in(app, "c-1", password)
    # The user's page never shows it again.
    assert password not in client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert password not in json.dumps(_entries("user.create", user.id)[0].changes)


def test_crm_users_create_is_audited_like_the_admin_page(app, client, auth, runner, world):
    from crm.cli import users

    auth.login("admin")
    assert client.post("/admin/users/new", data={**NEW, "township_id": str(world.a.id)}).status_code == 302
    [by_page] = _entries("user.create", _user("c-1").id)
    secret = "Plum-river-2031"
    result = runner.invoke(users, ["create", "c-2", "--role", "officer", "--email", "c2@example.test",
                                   "--township", "孟庄镇", "--password", secret, "--name", "李四"])
    assert result.exit_code == 0, result.output
    user = _user("c-2")
    assert result.output.strip() == str(user.id)
    [entry] = _entries("user.create", user.id)
    assert entry.action == by_page.action
    assert entry.user_id is None and entry.remote_addr == ""  # no one: the system
    assert entry.changes == {
        "username": [None, "c-2"], "display_name": [None, "李四"],
        "email": [None, "c2@example.test"], "role": [None, "officer"],
        "township": [None, "孟庄镇"], "active": [None, True]}
    # Without --name the display name is the username; a refused user leaves no audit row.
    assert runner.invoke(users, ["create", "c-3", "--role", "viewer", "--email", "c3@example.test",
                                 "--password", secret]).exit_code == 0
    assert _entries("user.create", _user("c-3").id)[0].changes["display_name"] == [None, "c-3"]
    refused = runner.invoke(users, ["create", "c-4", "--role", "viewer", "--email", "nope",
                                    "--password", secret])
    assert refused.exit_code != 0 and "邮箱地址无效" in refused.output
    assert _user("c-4") is None
    assert len(_entries("user.create")) == 3
    # The password (and its hash) is in no column of any audit row.
    rows = db.session.execute(sa.text("SELECT * FROM audit_log")).all()
    dumped = json.dumps([[str(value) for value in row] for row in rows], ensure_ascii=False)
    assert "c-2" in dumped
    assert secret not in dumped and user.password_hash not in dumped


@pytest.mark.parametrize(("change", "message"), [
    ({"username": "a-1"}, "用户名已存在"),
    ({"username": "has space"}, "用户名不能含空格"),
    ({"township_id": "0"}, "须指定所属单位"),
    ({"email": "not-an-email"}, "邮箱地址无效"),
    ({"password": "short", "confirm": "short"}, "密码至少8位"),
    ({"confirm": "something-else"}, "两次输入的密码不一致"),
    ({"password": "", "confirm": ""}, "请输入密码，或选择自动生成"),
    ({"role": "emperor"}, 'id="role-errors"'),
    ({"township_id": "99999"}, 'id="township_id-errors"'),
    ({"township_id": "abc"}, 'id="township_id-errors"'),
    ({"display_name": ""}, "请填写姓名"),
])
def test_create_refuses_bad_input_and_keeps_it(client, auth, world, change, message):
    auth.login("admin")
    data = {**NEW, "township_id": str(world.a.id), **change}
    r = client.post("/admin/users/new", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert message in page
    assert 'value="zhangsan@example.test"' in page or change.get("email")
    assert _user("c-1") is None
    assert not _entries("user.create")


def test_edit_changes_role_and_unit_and_is_audited(app, client, auth, world):
    officer = _signed_in(app, "a-1")
    auth.login("admin")
    uid = world.off_a1.id
    form = client.get(f"/admin/users/{uid}/edit").get_data(as_text=True)
    assert 'value="a-1@example.test"' in form
    r = client.post(f"/admin/users/{uid}/edit", data={
        "display_name": "李四", "email": "a-1@example.test", "role": "township_head",
        "township_id": str(world.b.id)})
    assert r.status_code == 302 and r.headers["Location"] == f"/admin/users/{uid}"
    user = _user("a-1")
    assert (user.display_name, user.role, user.township_id) == ("李四", "township_head", world.b.id)
    [entry] = _entries("user.edit", uid)
    assert entry.changes == {"display_name": ["a-1", "李四"], "role": ["officer", "township_head"],
                             "township": ["孟庄镇", "税郭镇"]}
    # The open session stays and sees the new role and unit at once.
    home = officer.get("/").get_data(as_text=True)
    assert "税郭镇" in home and "镇街负责人" in home
    # The user's page shows the history in words.
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "修改资料" in page and "镇街负责人" in page
    # Saving without changes records nothing.
    client.post(f"/admin/users/{uid}/edit", data={
        "display_name": "李四", "email": "a-1@example.test", "role": "township_head",
        "township_id": str(world.b.id)})
    assert len(_entries("user.edit", uid)) == 1
    # A district role drops the unit.
    client.post(f"/admin/users/{uid}/edit", data={
        "display_name": "李四", "email": "a-1@example.test", "role": "viewer",
        "township_id": str(world.b.id)})
    user = _user("a-1")
    assert (user.role, user.township_id) == ("viewer", None)


def test_edit_refuses_a_unit_role_without_a_unit(client, auth, world):
    auth.login("admin")
    uid = world.viewer.id
    r = client.post(f"/admin/users/{uid}/edit", data={
        "display_name": "新名字", "email": "viewer@example.test", "role": "officer",
        "township_id": "0"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "须指定所属单位" in page and 'value="新名字"' in page
    assert _user("viewer").role == "viewer" and _user("viewer").display_name == "viewer"


def test_deactivation_ends_sessions_and_tokens_at_once(app, client, auth, world):
    officer = _signed_in(app, "a-1")
    token = issue_token(world.off_a1, name="script")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    assert officer.get("/api/v1/me", headers=bearer).status_code == 200
    auth.login("admin")
    uid = world.off_a1.id
    r = client.post(f"/admin/users/{uid}/deactivate")
    assert r.status_code == 302
    assert officer.get("/").status_code == 302  # signed out
    api = app.test_client().get("/api/v1/me", headers=bearer)
    assert api.status_code == 401 and api.json["error"]["code"] == "unauthorized"
    assert app.test_client().post("/login", data={
        "username": "a-1", "password": factories.PASSWORD}).status_code == 200  # refused
    [entry] = _entries("user.deactivate", uid)
    assert entry.changes == {"active": [True, False]} and entry.user_id == world.admin.id
    assert len(_entries("token.revoke")) == 1
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "停用账号" in page and "重新启用" in page

    # Reactivated: can sign in again, but the old token stays revoked.
    assert client.post(f"/admin/users/{uid}/reactivate").status_code == 302
    assert _user("a-1").active
    _signed_in(app, "a-1")
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401
    assert _entries("user.reactivate", uid)[0].changes == {"active": [False, True]}


def test_reset_password_ends_sessions(app, client, auth, world):
    officer = _signed_in(app, "a-1")
    auth.login("admin")
    uid = world.off_a1.id
    r = client.post(f"/admin/users/{uid}/password", data={"password": "Brand-new-pass-7",
                                                           "confirm": "Brand-new-pass-7"})
    assert r.status_code == 302
    assert officer.get("/").status_code == 302
    assert app.test_client().post("/login", data={
        "username": "a-1", "password": factories.PASSWORD}).status_code == 200
    _signed_in(app, "a-1", "Brand-new-pass-7")
    [entry] = _entries("user.password_reset", uid)
    stored = json.dumps(entry.changes)
    assert "Brand-new-pass-7" not in stored and _user("a-1").password_hash not in stored
    assert "重置密码" in client.get(f"/admin/users/{uid}").get_data(as_text=True)


def test_reset_password_generated_and_refusals(app, client, auth, world):
    auth.login("admin")
    uid = world.off_a1.id
    r = client.post(f"/admin/users/{uid}/password", data={"password": "short", "confirm": "short"})
    assert r.status_code == 200 and "密码至少8位" in r.get_data(as_text=True)
    r = client.post(f"/admin/users/{uid}/password", data={"password": "Long-enough-1",
                                                           "confirm": "Long-enough-2"})
    assert "两次输入的密码不一致" in r.get_data(as_text=True)
    assert not _entries("user.password_reset")
    r = client.post(f"/admin/users/{uid}/password", data={"generate": "y"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="secret" class="input" type="text" value="([^"]+)"',
                         r.get_data(as_text=True)).group(1)
    _signed_in(app, "a-1", password)
    assert client.get(f"/admin/users/{uid + 1000}/password").status_code == 404


def test_admin_cannot_deactivate_or_demote_themselves(client, auth, world):
    auth.login("admin")
    uid = world.admin.id
    r = client.post(f"/admin/users/{uid}/deactivate", follow_redirects=True)
    assert "不能停用自己的账号" in r.get_data(as_text=True)
    r = client.post(f"/admin/users/{uid}/edit", data={
        "display_name": "admin", "email": "admin@example.test", "role": "viewer", "township_id": "0"})
    assert r.status_code == 200 and "不能降低自己的角色" in r.get_data(as_text=True)
    user = _user("admin")
    assert user.active and user.role == "district_admin"
    assert client.get("/admin/users").status_code == 200
    # Changing one's own name is fine.
    client.post(f"/admin/users/{uid}/edit", data={
        "display_name": "管理员", "email": "admin@example.test", "role": "district_admin",
        "township_id": "0"})
    assert _user("admin").display_name == "管理员"
    assert not _entries("user.deactivate")


def test_an_admin_may_demote_another_but_never_the_last(app, client, auth, world):
    second = factories.user("admin-2", "district_admin")
    db.session.commit()
    auth.login("admin")
    r = client.post(f"/admin/users/{second.id}/edit", data={
        "display_name": "admin-2", "email": "admin-2@example.test", "role": "viewer",
        "township_id": "0"})
    assert r.status_code == 302 and _user("admin-2").role == "viewer"

    # The last active admin: refused whoever asks (the command line has no actor).
    admin = _user("admin")
    with pytest.raises(DomainError, match="最后一位"):
        services.update_user(None, admin, display_name="admin", email="admin@example.test",
                             role="viewer", township=None)
    with pytest.raises(DomainError, match="最后一位"):
        services.deactivate_user(None, admin)
    db.session.rollback()


def test_two_admins_removing_each_other_leave_one(app, world):
    """Admin 2 was demoted a moment ago; their stale request to deactivate admin 1 is refused."""
    second = factories.user("admin-2", "district_admin")
    db.session.commit()
    stale_second = db.session.get(User, second.id)
    db.session.execute(sa.update(User).where(User.id == second.id).values(role="viewer"))
    with pytest.raises(Forbidden):
        services.deactivate_user(stale_second, _admin := db.session.get(User, world.admin.id))
    assert _admin.active
    db.session.rollback()


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_every_admin_form_needs_the_token(self, app, world):
        c = app.test_client()
        page = c.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        c.post("/login", data={"username": "admin", "password": factories.PASSWORD,
                               "csrf_token": token})
        uid = world.off_a1.id
        for url in ("/admin/users/new", f"/admin/users/{uid}/edit", f"/admin/users/{uid}/deactivate",
                    f"/admin/users/{uid}/password", "/admin/tokens/1/revoke"):
            assert c.post(url, data={**NEW, "generate": "y"}).status_code == 400, url
        assert _user("a-1").active and _user("c-1") is None
        form = c.get(f"/admin/users/{uid}").get_data(as_text=True)
        assert form.count('name="csrf_token"') >= 2
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        assert c.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": token}).status_code == 302
        assert not _user("a-1").active


def test_an_admin_resetting_their_own_password_stays_signed_in(app, client, auth, world):
    other = _signed_in(app, "admin")
    auth.login("admin")
    r = client.post(f"/admin/users/{world.admin.id}/password",
                    data={"password": "Fresh-chief-pw-3", "confirm": "Fresh-chief-pw-3"})
    assert r.status_code == 302
    assert client.get("/admin/users").status_code == 200
    assert other.get("/").status_code == 302
