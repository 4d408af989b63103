"""API tokens: issuing with an expiry, revoking, their status; every change audited."""

import datetime as dt
import re

from flask_babel import lazy_gettext as _l

from crm.audit.services import record
from crm.auth.models import MOBILE_PATTERN, ApiToken, User
from crm.auth.permissions import can
from crm.clock import utcnow
from crm.errors import DomainError, Forbidden
from crm.extensions import db

#: Lifetimes offered on the pages, in days; the first is the default.
EXPIRY_CHOICES = (90, 30, 365)
STATUS_LABELS = {"active": _l("有效"), "expired": _l("已过期"), "revoked": _l("已吊销")}
MAX_NAME = 64


def token_status(token: ApiToken, now: dt.datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def create_token(actor: User | None, user: User, name: str, days: int | None) -> tuple[ApiToken, str]:
    """A new token for ``user`` that expires in ``days`` (None: never, for the CLI only).

    Returns the row and the raw token, which is shown once and never stored.
    """
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise DomainError(_l("请填写令牌名称（不超过%(n)s个字符）", n=MAX_NAME),
                          {"name": [_l("请填写令牌名称（不超过%(n)s个字符）", n=MAX_NAME)]})
    if days is not None and not 1 <= days <= 3650:
        raise DomainError(_l("有效期须为1到3650天"), {"days": [_l("有效期须为1到3650天")]})
    if not user.active:
        raise DomainError(_l("用户已停用：%(name)s", name=user.username))
    expires_at = utcnow() + dt.timedelta(days=days) if days is not None else None
    token, raw = ApiToken.issue(user, name=name, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    record(actor, "token.create", token, changes={
        "user": [None, user.username], "name": [None, name],
        "expires_at": [None, expires_at.isoformat(timespec="seconds") if expires_at else None],
    })
    return token, raw


def revoke_token(actor: User | None, token: ApiToken) -> bool:
    """Revoke ``token``; False when it was already revoked (nothing to do)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    record(actor, "token.revoke", token, changes={
        "user": [None, token.user.username], "name": [None, token.name],
        "revoked_at": [None, token.revoked_at.isoformat(timespec="seconds")],
    })
    return True


def revoke_all(actor: User | None, user: User) -> int:
    """Revoke every token of ``user`` still unrevoked; how many."""
    tokens = db.session.scalars(
        db.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    return sum(revoke_token(actor, token) for token in tokens)


# --- the mobile number the group robots @-mention -------------------------------------------

def clean_mobile(value: str | None) -> str | None:
    """A mobile number as stored (None when empty), or DomainError on the ``mobile`` field."""
    value = "".join((value or "").split()).replace("-", "")
    if value.startswith("+86"):
        value = value[3:]
    if not value:
        return None
    if not re.fullmatch(MOBILE_PATTERN, value, flags=re.ASCII):
        message = _l("请填写11位中国大陆手机号码")
        raise DomainError(message, {"mobile": [message]})
    return value


def set_mobile(actor: User, user: User, value: str | None) -> bool:
    """Set ``user``'s mobile (their own, or any as an admin); whether it changed."""
    if actor.id != user.id and not can(actor, "users.manage"):
        raise Forbidden(_l("您无权修改该用户"))
    mobile = clean_mobile(value)
    if mobile == user.mobile:
        return False
    record(actor, "user.edit", user, changes={"mobile": [user.mobile, mobile]})
    user.mobile = mobile
    db.session.flush()
    return True
