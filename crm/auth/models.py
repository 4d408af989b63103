"""Users and API tokens."""

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.townships.models import Township

#: The roles: the only place their codes are spelled. What each may do is decided in
#: crm/auth/permissions.py (``can``); everything else imports these names.
OFFICER = "officer"
TOWNSHIP_HEAD = "township_head"
DISTRICT_ADMIN = "district_admin"
VIEWER = "viewer"
#: 区投促局 审核员: sees everything like a viewer; changes nothing but reviews claims.
REVIEWER = "reviewer"
ROLES = (OFFICER, TOWNSHIP_HEAD, DISTRICT_ADMIN, VIEWER, REVIEWER)
ROLE_LABELS = {
    OFFICER: _l("招商专员"),
    TOWNSHIP_HEAD: _l("镇街负责人"),
    DISTRICT_ADMIN: _l("区招商局管理员"),
    VIEWER: _l("区领导（只读）"),
    REVIEWER: _l("区投促局审核员"),
}
#: Roles bound to one unit (a user of these roles has a township): the people who can be a
#: lead's officers.
UNIT_ROLES = (OFFICER, TOWNSHIP_HEAD)
#: Roles that see every unit.
DISTRICT_ROLES = (DISTRICT_ADMIN, VIEWER, REVIEWER)
LOCALES = ("zh_CN", "en")
#: A mainland China mobile number: 11 digits, 1 then 3–9.
MOBILE_PATTERN = r"^1[3-9]\d{9}$"


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(sa.column("role").in_(ROLES), name="role"),
        sa.CheckConstraint(
            sa.or_(sa.column("role").not_in(UNIT_ROLES), sa.column("township_id").is_not(None)),
            name="unit_role_has_township",
        ),
        sa.CheckConstraint(sa.column("locale").in_(LOCALES), name="locale"),
        sa.Index("ix_users_username_key", "username_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: What sign-in and uniqueness compare: the username NFKC-normalised and case-folded
    #: (crm/auth/names.py). NULL only for an old account whose name collided with an older one's
    #: when the column was added: it can no longer be signed in to by name.
    #: The username NFKC-normalised and case-folded: unique (a unique index, so adding it never
    #: rebuilds the users table on SQLite, which would cascade into the rows that refer to users).
    username_key: Mapped[str | None] = mapped_column(sa.String(64))
    display_name: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[str] = mapped_column(sa.String(20))
    township_id: Mapped[int | None] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    locale: Mapped[str] = mapped_column(sa.String(8), default="zh_CN")
    #: Reminder preferences: the daily follow-up mail and the weekly digest.
    reminder_daily: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    reminder_weekly: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: A mainland mobile number (``MOBILE_PATTERN``), by which the unit's group robots
    #: @-mention the user; None when not given.
    mobile: Mapped[str | None] = mapped_column(sa.String(11))
    #: Changed on sign-out-everywhere and password change; part of the session identity, so
    #: old sessions and remember-cookies stop working.
    session_nonce: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: secrets.token_hex(8)
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    township: Mapped[Township | None] = relationship(lazy="joined")

    def __repr__(self):
        return f"<User {self.id} {self.username} {self.role}>"

    def set_password(self, password: str) -> None:
        from flask import current_app, has_app_context

        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() \
            else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def role_label(self):
        return ROLE_LABELS[self.role]


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "", expires_at: dt.datetime | None = None):
        """A new token row and the raw token, shown once."""
        raw = "crm_" + secrets.token_urlsafe(32)
        return cls(user=user, token_hash=cls.hash(raw), name=name, expires_at=expires_at), raw

    def usable(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


#: Outcomes of a sign-in attempt. ``pending`` is an attempt being checked right now (or one
#: whose request died): it counts as a failure, so concurrent guesses cannot slip past the limit.
LOGIN_OUTCOMES = ("success", "bad_password", "unknown_user", "inactive", "throttled", "pending")
#: The outcomes that count towards the failed sign-in limits.
LOGIN_FAILURES = ("bad_password", "unknown_user", "inactive", "pending")
LOGIN_OUTCOME_LABELS = {
    "success": _l("成功"),
    "bad_password": _l("密码错误"),
    "unknown_user": _l("用户不存在"),
    "inactive": _l("账号已停用"),
    "throttled": _l("失败过多被拒绝"),
    "pending": _l("未完成"),
}


class LoginAttempt(db.Model):
    """One sign-in attempt, successful or not: the sign-in audit log and the throttle's counter."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.CheckConstraint(sa.column("outcome").in_(LOGIN_OUTCOMES), name="outcome"),
        sa.Index("ix_login_attempts_username_at", "username", "at"),
        sa.Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: The typed name's key (crm/auth/names.py: NFKC, case-folded), the throttle's key.
    username: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: The client's IP address (IPv6 fits in 45 characters).
    address: Mapped[str] = mapped_column(sa.String(45), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(255), default="")
    outcome: Mapped[str] = mapped_column(sa.String(16), default="pending")

    user: Mapped[User | None] = relationship()

    @property
    def outcome_label(self):
        return LOGIN_OUTCOME_LABELS.get(self.outcome, self.outcome)


class RateWindow(db.Model):
    """One caller's request count in one fixed window of the API rate limit (crm/auth/ratecount.py).

    Kept in the database so that every worker and server counts together; a window's row is
    deleted by the hourly pruning job once it has ended.
    """

    __tablename__ = "rate_windows"

    #: ``token:<sha256>`` or ``addr:<address>``.
    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    #: When the window ends, in whole seconds since the epoch (UTC).
    ends_at: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)
