"""The audit log model."""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db


class AuditEntry(db.Model):
    """One change: ``action`` like ``lead.edit``; ``changes`` maps field → [old, new]."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_lead_at", "lead_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(48))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[int | None]
    #: The lead concerned, for the lead's timeline.
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    remote_addr: Mapped[str] = mapped_column(sa.String(64), default="")

    user: Mapped[User | None] = relationship()
