"""Signing in, sessions, passwords and API tokens."""

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

from crm import audit
from crm.auth import names, passwords
from crm.auth.models import ROLES, UNIT_ROLES, ApiToken, User
from crm.clock import utcnow
from crm.errors import DomainError
from crm.extensions import db
from crm.townships.models import Township


def load_user_from_session(session_id: str) -> User | None:
    """Flask-Login's loader: ``id:nonce``; a changed nonce ends old sessions."""
    user_id, _, nonce = (session_id or "").partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_nonce != nonce:
        return None
    return user


@dataclass(frozen=True)
class Account:
    """What a password check needs of a user, read before the transaction ends (no lazy loads)."""

    id: int
    password_hash: str
    active: bool


def find_by_username(username: str | None) -> User | None:
    """The user whose name compares equal to ``username`` (crm/auth/names.py: NFKC, case-folded)."""
    key = names.username_key(username)
    if not key:
        return None
    return db.session.scalar(sa.select(User).where(User.username_key == key))


def find_account(username: str | None) -> Account | None:
    """The account ``username`` names, as plain values (safe to use after a commit)."""
    user = find_by_username(username)
    return None if user is None else Account(user.id, user.password_hash, user.active)


def check_account_password(account: Account | None, password: str) -> str:
    """The outcome for the sign-in log: ``success``, ``bad_password``, ``unknown_user``, ``inactive``.

    Hashes the password in every case (a made-up hash when there is no such account), so every
    answer takes as long. Touches no database: call it with no transaction open, since a hash
    takes long (scrypt: tens of milliseconds) and an open SQLite write transaction would block
    every other writer meanwhile.
    """
    if account is None:
        check_password_hash(_dummy_hash(), password or "")
        return "unknown_user"
    if not check_password_hash(account.password_hash, password or ""):
        return "bad_password"
    return "success" if account.active else "inactive"


def _dummy_hash() -> str:
    """A hash made with the configured method, once per method, to check unknown users against."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() \
        else "scrypt"
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASHES[method]


_DUMMY_HASHES: dict[str, str] = {}


def check_password_strength(password: str, username: str | None = None) -> None:
    """The password policy (crm/auth/passwords.py); DomainError ``{"password": [...]}``."""
    passwords.check(password, username)


def change_password(user: User, current: str, new: str) -> None:
    if not user.check_password(current or ""):
        raise DomainError(_l("当前密码不正确"), {"current": [_l("当前密码不正确")]})
    check_password_strength(new, username=user.username)
    user.set_password(new)
    end_other_sessions(user)
    audit.record(user, "auth.password_change", user)


def end_other_sessions(user: User) -> None:
    """A new session nonce: every session and remember-cookie issued before it stops working."""
    user.session_nonce = secrets.token_hex(8)


def sign_out(user: User, *, everywhere: bool = False) -> None:
    """Signing out ends this browser's session (the view clears it and its remember-cookie);
    ``everywhere`` (退出所有设备) also ends every other session and remember-cookie."""
    if everywhere:
        end_other_sessions(user)
    audit.record(user, "auth.logout_everywhere" if everywhere else "auth.logout", user)


def create_user(
    username: str,
    *,
    role: str,
    email: str,
    password: str,
    township: Township | None = None,
    display_name: str | None = None,
) -> User:
    username = names.check_username(username)
    if role not in ROLES:
        raise DomainError(_l("未知角色：%(role)s（可选：%(roles)s）", role=role, roles=", ".join(ROLES)))
    if role in UNIT_ROLES and township is None:
        raise DomainError(_l("该角色须指定所属单位（--township）"))
    email = names.normalise_email(email)
    key = names.username_key(username)
    if db.session.scalar(sa.select(User.id).where(User.username_key == key)):
        message = _l("用户名已存在：%(name)s", name=username)
        raise DomainError(message, {"username": [message]})
    check_password_strength(password, username=username)
    user = User(
        username=username,
        username_key=key,
        display_name=display_name or username,
        email=email,
        role=role,
        township=township if role in UNIT_ROLES else None,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


#: last_used_at is written at most this often per token, not on every request.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)


def user_for_token_and_commit(raw: str) -> User | None:
    """The active owner of a usable (not revoked, not expired) token, else None. Commits the
    request's session when it notes the token's use (at most once a minute per token), so the
    caller's transaction so far is committed too: call it before any change."""
    if not raw or len(raw) > 256:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(raw)))
    now = utcnow()
    if token is None or not token.usable(now) or not token.user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        _touch_token_and_commit(token.id, now)
    return token.user


def _touch_token_and_commit(token_id: int, now: dt.datetime) -> None:
    """Note a token's use in a transaction of its own (GET requests never commit); best effort."""
    stale = now - TOKEN_TOUCH_INTERVAL
    try:
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == token_id,
                   sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except sa.exc.DBAPIError:  # a busy database must not refuse the request for a timestamp
        db.session.rollback()


def issue_token(user: User, name: str = "", expires_at: dt.datetime | None = None) -> str:
    token, raw = ApiToken.issue(user, name=name, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    return raw
