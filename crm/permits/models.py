"""A permit item of a lead's checklist (手续办理清单) and its kinds."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.leads.models import Lead

PERMIT_KINDS = ("filing", "land", "planning", "construction", "environment", "energy", "safety",
                "fire", "other")
PERMIT_KIND_LABELS = {
    "filing": _l("立项备案"),
    "land": _l("用地"),
    "planning": _l("规划许可"),
    "construction": _l("施工许可"),
    "environment": _l("环评"),
    "energy": _l("能评"),
    "safety": _l("安评"),
    "fire": _l("消防"),
    "other": _l("其他"),
}


class Permit(db.Model):
    """One approval a project needs: its kind, the unit responsible, the time limit (完成时限)
    and, once obtained, the day it was done. Past due and not done, it colours the project."""

    __tablename__ = "permits"
    __table_args__ = (
        sa.CheckConstraint(sa.column("kind").in_(PERMIT_KINDS), name="kind"),
        #: The colour looks for a lead's items not done by a date.
        sa.Index("ix_permits_lead_due", "lead_id", "due_on"),
        #: The overdue list: items not done, by due date.
        sa.Index("ix_permits_done_due", "done_on", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: 责任单位, e.g. 区行政审批服务局 (text: often a body outside the CRM's units).
    responsible_unit: Mapped[str] = mapped_column(sa.String(64), default="")
    due_on: Mapped[dt.date]
    #: The day it was obtained; NULL while outstanding.
    done_on: Mapped[dt.date | None]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lead: Mapped[Lead] = relationship(backref=backref(
        "permits", cascade="all, delete-orphan", passive_deletes=True,
        order_by="(Permit.due_on, Permit.id)"))

    @property
    def kind_label(self):
        return PERMIT_KIND_LABELS[self.kind]

    def overdue_days(self, as_of: dt.date) -> int:
        """Days past due as of ``as_of`` while not done by then (0: not overdue; due today is
        not overdue)."""
        if self.done_on is not None and self.done_on <= as_of:
            return 0
        return max(0, (as_of - self.due_on).days)
