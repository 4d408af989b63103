"""Revoking an API token or stopping a screen link asks first (issue 19): a confirmation page
without JavaScript, confirm() with it."""

import re

import sqlalchemy as sa

from crm.auth.models import ApiToken
from crm.auth.services import issue_token
from crm.bulletin.models import ScreenLink
from crm.extensions import db


def _confirm_page(response, action):
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)".*?</form>', text, re.S)
    assert form and form.group(1) == action
    assert '<input type="hidden" name="confirmed" value="1">' in form.group(0)
    assert "取消" in form.group(0)
    return text


def test_revoking_ones_own_token_asks_first(client, auth, world):
    issue_token(world.off_a1, name="报表脚本")
    db.session.commit()
    token = db.session.scalar(sa.select(ApiToken))
    auth.login("a-1")
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert 'data-confirm="吊销令牌“报表脚本”？' in listing  # the JavaScript's confirm()
    action = f"/account/tokens/{token.id}/revoke"
    text = _confirm_page(client.post(action), action)
    assert "吊销令牌“报表脚本”？" in text
    db.session.refresh(token)
    assert token.revoked_at is None  # not yet
    assert client.post(action, data={"confirmed": "1"}).status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_the_admin_revoking_a_token_asks_first_and_keeps_where_to_return(client, auth, world):
    issue_token(world.off_b1, name="b的脚本")
    db.session.commit()
    token = db.session.scalar(sa.select(ApiToken))
    auth.login("admin")
    action = f"/admin/tokens/{token.id}/revoke"
    text = _confirm_page(client.post(action, data={"next": "/admin/tokens?status=active"}),
                         action)
    assert '<input type="hidden" name="next" value="/admin/tokens?status=active">' in text
    assert 'href="/admin/tokens?status=active">取消' in text
    db.session.refresh(token)
    assert token.revoked_at is None
    response = client.post(action, data={"next": "/admin/tokens?status=active",
                                         "confirmed": "1"})
    assert response.headers["Location"] == "/admin/tokens?status=active"
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_stopping_a_screen_link_asks_first(client, auth, world):
    link, _raw = ScreenLink.issue(world.admin, "大厅")
    db.session.add(link)
    db.session.commit()
    auth.login("admin")
    assert 'data-confirm="停用屏幕链接“大厅”？' in client.get("/screen/links").get_data(
        as_text=True)
    action = f"/screen/links/{link.id}/revoke"
    assert "停用屏幕链接“大厅”？" in _confirm_page(client.post(action), action)
    db.session.refresh(link)
    assert link.revoked_at is None
    assert client.post(action, data={"confirmed": "1"}).status_code == 302
    db.session.refresh(link)
    assert link.revoked_at is not None


# --- a 复制 button beside each secret shown once -----------------------------------------------------

def test_secrets_shown_once_have_a_copy_button(client, auth, world):
    auth.login("a-1")
    text = client.post("/account/tokens", data={"name": "脚本", "days": "90"}).get_data(
        as_text=True)
    assert re.search(r'<input id="new-token"[^>]*readonly', text)  # selectable without JS
    assert re.search(r'<button type="button"[^>]*data-copy="new-token"[^>]*hidden>复制</button>', text)
    auth.logout()
    auth.login("admin")
    text = client.post("/screen/links", data={"name": "大厅"}).get_data(as_text=True)
    assert re.search(r'data-copy="new-link-url"[^>]*hidden>复制</button>', text)
