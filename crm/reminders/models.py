"""The reminder dispatch log: one row per (user, kind, period)."""


import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.extensions import db
from crm.outbox import OutboxRow

#: ``review``: a reviewer's daily list of claims pending more than 5 workdays.
#: ``dispute``: a ruling on a 撞单, to the heads of both units (period ``D<dispute id>``).
#: ``supervision``: a district leader told of a supervision order at ``talk`` (约谈), period
#: ``o<order id>``.
#: ``move_back``: 申请退回, to the unit's heads when asked (period ``B<request id>``) and to the
#: officer when decided (``B<request id>-d``).
KINDS = ("daily", "weekly", "review", "dispute", "supervision", "move_back")
STATUSES = ("pending", "sent", "skipped")


class ReminderDispatch(OutboxRow, db.Model):
    """Claimed before sending, marked sent after; the unique key makes "exactly once" hold."""

    __tablename__ = "reminder_dispatches"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "kind", "period"),
        sa.CheckConstraint(sa.column("kind").in_(KINDS), name="kind"),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status"),
        sa.Index("ix_reminder_dispatches_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: ``2026-11-25`` for a daily reminder, ``2026-W48`` for a weekly one.
    period: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The whole message (RFC 5322), rendered when claimed: a retry sends exactly this.
    message: Mapped[str] = mapped_column(sa.Text, default="", server_default="")

    user: Mapped[User] = relationship()
