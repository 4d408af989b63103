"""Keeping channels (admins) and sending a test message. Services flush, never commit."""

from types import SimpleNamespace

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.models import User
from crm.auth.permissions import can
from crm.channels import crypto, dispatch, vendors
from crm.channels.models import DINGTALK, KINDS, Channel
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.townships.models import Township

NAME_MAX = 64
KEYWORD_MAX = 64
SECRET_MAX = 200


def _fail(field: str, message) -> DomainError:
    return DomainError(message, {field: [message]})


def _allowed(user: User | None) -> bool:
    """Admins; ``None`` is the command line (the system)."""
    return user is None or can(user, "channels.manage")


def _check_common(user: User | None, name: str, keyword: str, secret: str):
    if not _allowed(user):
        raise Forbidden(_l("您无权管理群机器人"))
    name = " ".join((name or "").split())
    if not name:
        raise _fail("name", _l("请填写名称"))
    if len(name) > NAME_MAX:
        raise _fail("name", _l("名称不超过%(n)s个字符", n=NAME_MAX))
    keyword = (keyword or "").strip()
    if len(keyword) > KEYWORD_MAX:
        raise _fail("keyword", _l("关键词不超过%(n)s个字符", n=KEYWORD_MAX))
    secret = (secret or "").strip()
    if len(secret) > SECRET_MAX or any(c.isspace() for c in secret):
        raise _fail("secret", _l("加签密钥格式不正确"))
    return name, keyword, secret


def _name_taken(name: str, except_id: int | None = None) -> bool:
    stmt = sa.select(Channel.id).where(sa.func.lower(Channel.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(Channel.id != except_id)
    return db.session.scalar(stmt) is not None


def _set_url(channel: Channel, kind: str, url: str) -> None:
    try:
        url = vendors.check_url(kind, url)
    except vendors.UrlRefused as exc:
        raise _fail("url", exc.message) from None
    channel.url_secret = crypto.seal(url)
    channel.url_hint = vendors.url_hint(kind, url)


def _set_secret(channel: Channel, secret: str) -> None:
    channel.signing_secret = crypto.seal(secret)
    channel.signing_hint = crypto.last4(secret)


def add_channel(user: User | None, *, name: str, kind: str, url: str, township: Township | None,
                secret: str = "", keyword: str = "", enabled: bool = True) -> Channel:
    """A new channel; ``township`` None: the district's."""
    name, keyword, secret = _check_common(user, name, keyword, secret)
    if kind not in KINDS:
        raise _fail("kind", _l("请选择企业微信或钉钉"))
    if kind != DINGTALK and (secret or keyword):
        raise _fail("secret", _l("加签密钥和关键词只用于钉钉机器人"))
    if _name_taken(name):
        raise _fail("name", _l("已有同名的群机器人"))
    channel = Channel(name=name, kind=kind, township=township, keyword=keyword,
                      enabled=enabled, sends_total=0)
    _set_url(channel, kind, url)
    _set_secret(channel, secret)
    db.session.add(channel)
    db.session.flush()
    audit.record(user, "channel.create", channel, changes={
        "name": [None, name], "kind": [None, kind],
        "township": [None, township.name if township else None],
        "url": [None, channel.url_hint], "secret": [None, channel.signing_hint],
        "keyword": [None, keyword], "enabled": [None, enabled]})
    return channel


def update_channel(user: User | None, channel: Channel, *, name: str, township: Township | None,
                   url: str = "", secret: str = "", keyword: str = "", clear_secret: bool = False,
                   enabled: bool = True) -> dict:
    """Change a channel; an empty ``url`` or ``secret`` keeps the stored one (never shown)."""
    name, keyword, secret = _check_common(user, name, keyword, secret)
    if channel.kind != DINGTALK and (secret or keyword):
        raise _fail("secret", _l("加签密钥和关键词只用于钉钉机器人"))
    if _name_taken(name, channel.id):
        raise _fail("name", _l("已有同名的群机器人"))
    old = {"name": channel.name, "township": channel.township.name if channel.township else None,
           "url": channel.url_hint, "secret": channel.signing_hint, "keyword": channel.keyword,
           "enabled": channel.enabled}
    channel.name, channel.township, channel.keyword = name, township, keyword
    channel.enabled = enabled
    if url.strip():
        _set_url(channel, channel.kind, url)
    if secret:
        _set_secret(channel, secret)
    elif clear_secret:
        _set_secret(channel, "")
    new = {"name": channel.name, "township": township.name if township else None,
           "url": channel.url_hint, "secret": channel.signing_hint, "keyword": channel.keyword,
           "enabled": channel.enabled}
    changes = {k: [old[k], new[k]] for k in new if old[k] != new[k]}
    if url.strip() and "url" not in changes:
        changes["url"] = [old["url"], new["url"]]  # a new key may end like the old one
    if secret and "secret" not in changes:
        changes["secret"] = [old["secret"], new["secret"]]
    db.session.flush()
    if changes:
        audit.record(user, "channel.edit", channel, changes=changes)
    return changes


def delete_channel(user: User | None, channel: Channel) -> None:
    if not _allowed(user):
        raise Forbidden(_l("您无权管理群机器人"))
    audit.record(user, "channel.delete", channel, changes={"name": [channel.name, None]})
    db.session.delete(channel)
    db.session.flush()


def test_target(channel: Channel) -> SimpleNamespace:
    """What ``send_test`` needs of a channel, read now: a request then ends its transaction
    (``end_transaction``) before the slow call to the robot, so that it holds no lock meanwhile."""
    return SimpleNamespace(id=channel.id, name=channel.name, kind=channel.kind,
                           keyword=channel.keyword, url_secret=channel.url_secret,
                           signing_secret=channel.signing_secret)


def send_test(channel) -> str:
    """One test message to the robot now, taking one of its per-minute slots (a transaction of
    its own); the vendor's answer, or DeliveryError with it (also when the limit is reached).
    ``channel``: from ``test_target``."""
    wait = dispatch.take_slot(channel.id)
    if wait is not None:
        raise vendors.DeliveryError(
            f"rate limit: {dispatch.PER_MINUTE} messages a minute reached; "
            f"try again in {int(wait.total_seconds()) + 1} s")
    title = _("测试消息")
    body = _("### 测试消息\n\n这是招商 CRM 发往“%(name)s”的测试消息，收到即表示配置正确。",
             name=channel.name)
    try:
        return dispatch.send_to(channel, title, body, []).body
    except crypto.SecretUnreadable:
        raise vendors.DeliveryError(dispatch.error_text(crypto.SecretUnreadable())) from None
