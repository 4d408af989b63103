"""The password policy: length, common passwords, patterns, the username; everywhere it is set."""

import pytest
import sqlalchemy as sa

from crm.auth import passwords
from crm.auth.models import User
from crm.auth.services import check_password_strength
from crm.cli import users
from crm.errors import DomainError
from crm.extensions import db
from crm.seed import DEMO_PASSWORD
from tests import factories

COMMON = "这是常见密码"
SEQUENCE = "连续的数字、字母或键盘顺序"
REPEATED = "重复组成"
USERNAME = "不能包含用户名"


@pytest.mark.parametrize("password, message", [
    ("short", "密码至少8位"),
    ("", "密码至少8位"),
    ("woaini1314", COMMON),
    ("5201314520", COMMON),
    ("qq123456", COMMON),
    ("a123456789", COMMON),
    ("iloveyou", COMMON),
    ("zhang123456", COMMON),
    ("PassWord1", COMMON),  # case does not help
    (" password123 ", COMMON),
    ("baidu123", COMMON),
    ("1qaz2wsx", SEQUENCE),
    ("qwertyuiop", SEQUENCE),
    ("87654321", SEQUENCE),
    ("7890123456", SEQUENCE),
    ("zxcvbnm,./", SEQUENCE),
    ("aaaaaaaa", REPEATED),
    ("00000000000", REPEATED),
    ("abcabcabc", REPEATED),
    ("12341234", REPEATED),
    ("xyzxyzxyzxyz", REPEATED),
])
def test_weak_passwords_are_refused(password, message):
    found = [str(m) for m in passwords.problems(password)]
    assert any(message in m for m in found), found
    with pytest.raises(DomainError) as exc:
        check_password_strength(password)
    assert exc.value.fields["password"]


@pytest.mark.parametrize("password", [
    DEMO_PASSWORD, factories.PASSWORD, "long-enough-1", "new-password-9", "river-stone-2031",
    "孟庄镇招商2026", "Tq8#mZ2p", "aaaaaaab-xyz",
])
def test_reasonable_passwords_pass(password):
    assert passwords.problems(password) == []
    check_password_strength(password)


def test_the_password_may_not_contain_the_username():
    for password in ("zhangwei-2026!", "ZhangWei@office", "xx-iewgnahz-77"):
        found = [str(m) for m in passwords.problems(password, username="zhangwei")]
        assert found == ["密码不能包含用户名"], password
    assert passwords.problems("zhangwei-2026!", username="lisi-9") == []
    assert passwords.problems("li-river-2031", username="li") == []  # too short a name to matter
    with pytest.raises(DomainError) as exc:
        check_password_strength("mengzhuang-1-pass", username="mengzhuang-1")
    assert [str(m) for m in exc.value.fields["password"]] == ["密码不能包含用户名"]


def test_every_problem_is_listed():
    found = [str(m) for m in passwords.problems("admin", username="admin")]
    assert len(found) == 3 and found[0] == "密码至少8位" and COMMON in found[1] and USERNAME in found[2]


def test_the_bundled_list_is_large_and_lower_cased():
    common = passwords.common_passwords()
    assert len(common) > 15_000
    assert {"123456", "password", "5201314", "woaini1314", "qq123456", "1qaz2wsx"} <= common
    assert all(p == p.lower() for p in common)
    assert DEMO_PASSWORD not in common


class TestLongerMinimum:
    @pytest.fixture
    def app_config(self):
        return {"CRM_PASSWORD_MIN_LENGTH": 12}

    def test_the_minimum_length_is_a_setting(self, app):
        assert [str(m) for m in passwords.problems("river-stone")] == ["密码至少12位"]
        assert passwords.problems("river-stone-2031") == []


def change(client, new, current=factories.PASSWORD):
    return client.post("/password", data={"current": current, "password": new, "confirm": new})


@pytest.mark.parametrize("new, message", [
    ("woaini1314", COMMON), ("12345678", SEQUENCE), ("qqqqqqqq", REPEATED),
    ("my-a-1-secret", USERNAME), ("short", "密码至少8位"),
])
def test_the_password_change_page_refuses_weak_passwords(client, auth, world, new, message):
    auth.login("a-1")
    response = change(client, new)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, world.off_a1.id).check_password(factories.PASSWORD)


def test_the_password_change_page_explains_the_rule(client, auth, world):
    auth.login("a-1")
    page = client.get("/password").get_data(as_text=True)
    assert "至少8位，不能是常见密码" in page
    assert change(client, "river-stone-2031").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, world.off_a1.id).check_password("river-stone-2031")


@pytest.mark.parametrize("password, message", [
    ("woaini1314", COMMON), ("wangfang-2026", USERNAME), ("1q2w3e4r5t", SEQUENCE), ("abc", "至少8位"),
])
def test_crm_users_create_refuses_weak_passwords(app, runner, password, message):
    result = runner.invoke(users, ["create", "wangfang", "--role", "viewer", "--email",
                                   "w@example.test", "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "wangfang")) is None


def test_crm_users_create_accepts_a_good_password(app, runner):
    result = runner.invoke(users, ["create", "wangfang", "--role", "viewer", "--email",
                                   "w@example.test", "--password", "river-stone-2031"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "wangfang"))
    assert user is not None and user.check_password("river-stone-2031")
