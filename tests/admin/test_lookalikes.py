"""Admin forms and `crm users create` refuse look-alike usernames and lists of e-mail addresses."""

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.cli import users
from crm.extensions import db

NEW = {"display_name": "张三", "email": "zhangsan@example.test", "role": "viewer",
       "township_id": "0", "password": "Tiger-lily-42", "confirm": "Tiger-lily-42"}


def _count():
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(User.id)))


@pytest.mark.parametrize(("username", "message"), [
    ("admin\u200b", "不可见字符"),
    ("\u202eevil", "不可见字符"),
    ("Admin", "用户名已存在"),
    ("ＡＤＭＩＮ", "用户名已存在"),
    ("A-1", "用户名已存在"),
])
def test_the_admin_form_refuses_look_alike_usernames(client, auth, world, username, message):
    auth.login("admin")
    before = _count()
    page = client.post("/admin/users/new", data={**NEW, "username": username})
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    assert _count() == before


@pytest.mark.parametrize("email", ["a@x.com,victim@evil.example", "a@x.com victim@evil.example",
                                   "张三 <a@x.com>", "a@x.com\u200b"])
def test_the_admin_forms_refuse_more_than_one_address(client, auth, world, email):
    auth.login("admin")
    before = _count()
    page = client.post("/admin/users/new", data={**NEW, "username": "c-9", "email": email})
    assert page.status_code == 200 and "邮箱地址无效" in page.get_data(as_text=True)
    assert _count() == before
    edit = client.post(f"/admin/users/{world.off_a1.id}/edit", data={
        "display_name": "x", "email": email, "role": "officer", "township_id": str(world.a.id)})
    assert "邮箱地址无效" in edit.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, world.off_a1.id).email == "a-1@example.test"


def test_a_new_name_is_stored_normalised(client, auth, world):
    auth.login("admin")
    page = client.post("/admin/users/new", data={**NEW, "username": "ｃ－９",
                                                   "email": "Zhang@Example.GOV.cn"})
    assert page.status_code == 302
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.username == "c-9"))
    assert (user.username_key, user.email) == ("c-9", "Zhang@example.gov.cn")


@pytest.mark.parametrize(("username", "email"), [
    ("admin\u200b", "x@example.test"), ("Admin", "x@example.test"),
    ("c-9", "a@x.com,victim@evil.example"),
])
def test_the_command_line_refuses_them_too(runner, world, username, email):
    before = _count()
    result = runner.invoke(users, ["create", username, "--role", "viewer", "--email", email,
                                   "--password", "Tiger-lily-42"])
    assert result.exit_code != 0
    assert _count() == before


def test_the_database_refuses_two_spellings_of_one_name(app, world):
    """The unique key holds even for a writer that skips the service."""
    db.session.add(User(username="ADMIN", username_key="admin", display_name="x",
                        email="x@example.test", role="viewer", password_hash="x"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
