"""A request to move a lead back a stage (申请退回) and its decision."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.leads.models import Lead
from crm.leads.pipeline import ORDERED_STAGES

STATUSES = ("pending", "approved", "refused")
STATUS_LABELS = {"pending": _l("待审批"), "approved": _l("已同意"), "refused": _l("未同意")}
DECISIONS = ("approve", "refuse")


class MoveBackRequest(db.Model):
    """Asked by an officer with a reason and an effective date; decided once by the unit's
    head or an admin (an approval writes the stage change, with the date asked for)."""

    __tablename__ = "move_back_requests"
    __table_args__ = (
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status"),
        sa.CheckConstraint(sa.column("from_stage").in_(ORDERED_STAGES), name="from_stage"),
        sa.CheckConstraint(sa.column("to_stage").in_(ORDERED_STAGES), name="to_stage"),
        sa.Index("ix_move_back_requests_lead_status", "lead_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: The lead's stage when asked: an approval needs the lead still there.
    from_stage: Mapped[str] = mapped_column(sa.String(16))
    to_stage: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text)
    #: The day the move back happened, as the officer said (the stage change's effective date).
    effective_on: Mapped[dt.date]
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.status, self.status))
