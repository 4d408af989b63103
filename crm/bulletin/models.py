"""Secret links for the big screens (亮屏公示): a screen shows the bulletin without signing in."""

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db

TOKEN_PREFIX = "scr_"  # noqa: S105 (a recognisable prefix, not a secret)


class ScreenLink(db.Model):
    """One screen's link; only the SHA-256 of its token is stored, the token is shown once."""

    __tablename__ = "screen_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Where the screen hangs, e.g. "区政务服务中心一楼大厅".
    name: Mapped[str] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set once; a revoked link answers 404 for good.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User] = relationship()

    def __repr__(self):
        return f"<ScreenLink {self.id} {self.name}>"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str) -> tuple["ScreenLink", str]:
        """A new link row and its raw token (to show once)."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return cls(name=name, token_hash=cls.hash(raw), created_by_id=user.id), raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class BulletinIssue(db.Model):
    """A published bulletin (通报 第N期): the bulletin of one as-of date, frozen as JSON.

    ``content`` holds everything its page, workbook and Word file show; later edits of leads,
    targets or units never change it.
    """

    __tablename__ = "bulletin_issues"
    __table_args__ = (sa.UniqueConstraint("year", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    #: 第N期 of the year, counted from 1 without gaps.
    number: Mapped[int]
    #: One issue per as-of date.
    as_of: Mapped[dt.date] = mapped_column(unique=True)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    content: Mapped[dict] = mapped_column(sa.JSON)

    published_by: Mapped[User | None] = relationship()

    @property
    def title_number(self) -> str:
        return f"{self.year}年第{self.number}期"
