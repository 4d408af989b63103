"""API tokens: one's own on the account page, everyone's for admins, expiry, revocation, the CLI."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa
import time_machine

from crm.audit.models import AuditEntry
from crm.auth.models import ApiToken
from crm.auth.services import issue_token
from crm.cli import tokens as tokens_cli
from crm.clock import utcnow
from crm.extensions import db
from tests import factories
from tests.querycount import count_queries

RAW = re.compile(r'id="new-token" class="input" type="text" value="(crm_[^"]+)"')


def _signed_in(app, username):
    c = app.test_client()
    r = c.post("/login", data={"username": username, "password": factories.PASSWORD})
    assert r.status_code == 302
    return c


def _create(c, name="报表脚本", days="90"):
    r = c.post("/account/tokens", data={"name": name, "days": days})
    assert r.status_code == 200
    match = RAW.search(r.get_data(as_text=True))
    return r, match.group(1) if match else None


def _me(app, raw):
    return app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})


def _token(raw) -> ApiToken:
    db.session.expire_all()
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(raw)))


def _audit(action):
    return list(db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("username", ["viewer", "a-head", "a-1", "admin"])
def test_every_user_creates_a_token_shown_once(app, world, username):
    c = _signed_in(app, username)
    assert 'href="/account/tokens"' in c.get("/").get_data(as_text=True)
    r, raw = _create(c)
    assert raw is not None
    assert r.headers["Cache-Control"] == "no-store"
    me = _me(app, raw)
    assert me.status_code == 200 and me.json["username"] == username
    token = _token(raw)
    assert token.token_hash == ApiToken.hash(raw) and raw not in token.token_hash
    assert token.user.username == username and token.name == "报表脚本"
    assert abs(token.expires_at - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
    page = c.get("/account/tokens").get_data(as_text=True)
    assert raw not in page
    assert "报表脚本" in page and "有效" in page
    [entry] = _audit("token.create")
    assert entry.user.username == username and entry.object_id == token.id
    assert entry.changes["name"] == [None, "报表脚本"] and raw not in str(entry.changes)


@pytest.mark.parametrize(("days", "delta"), [("30", 30), ("365", 365)])
def test_token_lifetimes(app, world, days, delta):
    _r, raw = _create(_signed_in(app, "a-1"), days=days)
    expected = utcnow() + dt.timedelta(days=delta)
    assert abs(_token(raw).expires_at - expected) < dt.timedelta(minutes=1)


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "", "days": "90"}, "请填写令牌名称"),
    ({"name": "x" * 65, "days": "90"}, "不超过64个字符"),
    ({"name": "永久", "days": "0"}, 'id="days-errors"'),
    ({"name": "永久", "days": "never"}, 'id="days-errors"'),
    ({"name": "永久", "days": "7"}, 'id="days-errors"'),
])
def test_no_token_from_bad_input(app, world, data, message):
    c = _signed_in(app, "a-1")
    r = c.post("/account/tokens", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and message in page and not RAW.search(page)
    if data["name"]:
        assert f'value="{data["name"]}"' in page
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_expired_token_is_refused(app, world):
    _r, raw = _create(_signed_in(app, "a-1"), days="30")
    assert _me(app, raw).status_code == 200
    with time_machine.travel(utcnow() + dt.timedelta(days=30, minutes=1)):
        r = _me(app, raw)
        assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
        page = _signed_in(app, "a-1").get("/account/tokens").get_data(as_text=True)
        assert "已过期" in page
    # Also a token whose expiry was set in the past.
    other = issue_token(world.off_a2, name="old", expires_at=utcnow() - dt.timedelta(seconds=1))
    db.session.commit()
    assert _me(app, other).status_code == 401


def test_last_used_is_written_at_most_once_a_minute(app, world):
    raw = issue_token(world.off_a1, name="t")
    db.session.commit()
    assert _token(raw).last_used_at is None
    start = utcnow()
    with time_machine.travel(start, tick=False):
        assert _me(app, raw).status_code == 200
    first = _token(raw).last_used_at
    assert first == start
    with time_machine.travel(start + dt.timedelta(seconds=50), tick=False):
        with count_queries() as c:
            assert _me(app, raw).status_code == 200
        quiet = c["n"]
    assert _token(raw).last_used_at == first
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        with count_queries() as c:
            assert _me(app, raw).status_code == 200
        assert c["n"] > quiet  # the one write
    assert _token(raw).last_used_at == start + dt.timedelta(seconds=61)


def test_own_revocation(app, world):
    c = _signed_in(app, "a-1")
    _r, raw = _create(c)
    token = _token(raw)
    r = c.post(f"/account/tokens/{token.id}/revoke", data={"confirmed": "1"},
               follow_redirects=True)
    assert "已吊销" in r.get_data(as_text=True)
    assert _me(app, raw).status_code == 401
    assert _token(raw).revoked_at is not None
    [entry] = _audit("token.revoke")
    assert entry.user.username == "a-1" and entry.object_id == token.id
    # Twice is harmless and not audited again.
    c.post(f"/account/tokens/{token.id}/revoke", data={"confirmed": "1"})
    assert len(_audit("token.revoke")) == 1
    assert c.get(f"/account/tokens/{token.id}/revoke").status_code == 405


def test_another_users_token_does_not_exist_for_a_non_admin(app, world):
    raw = issue_token(world.off_a1, name="mine")
    db.session.commit()
    token_id = _token(raw).id
    for username in ("a-2", "a-head", "viewer"):
        c = _signed_in(app, username)
        assert c.post(f"/account/tokens/{token_id}/revoke").status_code == 404
        assert "mine" not in c.get("/account/tokens").get_data(as_text=True)
        assert c.post(f"/admin/tokens/{token_id}/revoke").status_code == 403
    assert c.post("/account/tokens/99999/revoke").status_code == 404
    assert _me(app, raw).status_code == 200
    assert not _audit("token.revoke")


def test_admin_lists_and_revokes_everyones_tokens(app, client, auth, world):
    raws = {u.username: issue_token(u, name=f"{u.username}-脚本") for u in (
        world.off_a1, world.head_b, world.viewer)}
    expired = issue_token(world.off_a2, name="过期的", expires_at=utcnow() - dt.timedelta(days=1))
    db.session.commit()
    auth.login("admin")
    page = client.get("/admin/tokens").get_data(as_text=True)
    assert "共 4 个" in page
    for name in ("a-1-脚本", "b-head-脚本", "viewer-脚本", "过期的"):
        assert name in page
    assert "过期的" in client.get("/admin/tokens?status=expired").get_data(as_text=True)
    assert "过期的" not in client.get("/admin/tokens?status=active").get_data(as_text=True)
    assert "b-head-脚本" in client.get("/admin/tokens?q=B-HEAD").get_data(as_text=True)
    assert "a-1-脚本" not in client.get("/admin/tokens?q=B-HEAD").get_data(as_text=True)
    assert client.get("/admin/tokens?status=bogus&page=x").status_code == 200

    token_id = _token(raws["b-head"]).id
    r = client.post(f"/admin/tokens/{token_id}/revoke",
                    data={"next": "/admin/tokens?status=active", "confirmed": "1"})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/tokens?status=active"
    assert _me(app, raws["b-head"]).status_code == 401
    assert _me(app, raws["a-1"]).status_code == 200
    assert _me(app, expired).status_code == 401
    [entry] = _audit("token.revoke")
    assert entry.user_id == world.admin.id and entry.changes["user"] == [None, "b-head"]
    assert "已吊销" in client.get("/admin/tokens?status=revoked").get_data(as_text=True)
    # Off-site "next" is not followed.
    other = _token(raws["viewer"]).id
    r = client.post(f"/admin/tokens/{other}/revoke",
                    data={"next": "//evil.example/", "confirmed": "1"})
    assert r.headers["Location"] == "/"
    assert client.post("/admin/tokens/99999/revoke").status_code == 404
    # The user's page lists their tokens and the history.
    page = client.get(f"/admin/users/{world.head_b.id}").get_data(as_text=True)
    assert "b-head-脚本" in page and "吊销 API 令牌" in page


def test_admin_token_list_query_count_does_not_grow(app, client, auth, world):
    auth.login("admin")
    issue_token(world.off_a1, name="one")
    db.session.commit()

    def queries():
        with count_queries() as c:
            assert client.get("/admin/tokens").status_code == 200
        return c["n"]

    few = queries()
    for user in (world.off_a2, world.head_a, world.head_b, world.off_b1, world.viewer):
        for i in range(8):
            issue_token(user, name=f"t{i}")
    db.session.commit()
    assert queries() == few


def test_cli_prints_only_the_token_and_expires_in_a_year(app, runner, world):
    result = runner.invoke(tokens_cli, ["create", "a-1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crm_")
    token = _token(lines[0])
    assert abs(token.expires_at - (utcnow() + dt.timedelta(days=365))) < dt.timedelta(minutes=1)
    assert _me(app, lines[0]).status_code == 200
    [entry] = _audit("token.create")
    assert entry.user_id is None and entry.changes["user"] == [None, "a-1"]

    short = runner.invoke(tokens_cli, ["create", "a-1", "--expires-days", "7", "--name", "大屏"])
    assert short.exit_code == 0
    assert _token(short.stdout.strip()).expires_at < utcnow() + dt.timedelta(days=8)
    assert runner.invoke(tokens_cli, ["create", "a-1", "--expires-days", "0"]).exit_code != 0

    revoked = runner.invoke(tokens_cli, ["revoke", str(token.id)])
    assert revoked.exit_code == 0 and "已吊销" in revoked.stdout
    assert _me(app, lines[0]).status_code == 401
    assert runner.invoke(tokens_cli, ["revoke", "99999"]).exit_code != 0
