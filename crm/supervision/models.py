"""Supervision orders (督办单), their answers, and the per-year counter behind their numbers."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.claims.models import Attachment
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.leads.models import Lead
from crm.townships.models import Township

#: Levels in the order an overdue order escalates.
LEVELS = ("yellow", "red", "talk")
LEVEL_LABELS = {"yellow": _l("黄色督办"), "red": _l("红色督办"), "talk": _l("约谈")}
STATUSES = ("open", "answered", "closed")
STATUS_LABELS = {"open": _l("待答复"), "answered": _l("已答复"), "closed": _l("已办结")}
#: Orders not yet closed: a lead with one gets no new automatic order.
LIVE_STATUSES = ("open", "answered")


def next_level(level: str) -> str | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


class SupervisionCounter(db.Model):
    """The last number given in a year: taken with an UPDATE (a row lock on PostgreSQL, the
    write lock on SQLite) in the transaction that inserts the order, so numbers have no gaps."""

    __tablename__ = "supervision_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class SupervisionOrder(db.Model):
    """One 督办单 on one lead, numbered 〔year〕第N号."""

    __tablename__ = "supervision_orders"
    __table_args__ = (
        sa.UniqueConstraint("year", "number"),
        sa.CheckConstraint(sa.column("level").in_(LEVELS), name="level"),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status"),
        sa.Index("ix_supervision_orders_lead_status", "lead_id", "status"),
        sa.Index("ix_supervision_orders_township_status", "township_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    #: The lead's unit when issued (the unit answers for it).
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"))
    year: Mapped[int]
    number: Mapped[int]
    level: Mapped[str] = mapped_column(sa.String(8))
    reason: Mapped[str] = mapped_column(sa.Text)
    issued_on: Mapped[dt.date]
    due_on: Mapped[dt.date]
    status: Mapped[str] = mapped_column(sa.String(12), default="open")
    #: Set by the automatic run only: ``auto:<lead>:<level>:<day>``. Unique, so however many
    #: schedulers run, a lead gets at most one automatic order per level and day.
    run_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: The overdue order this one escalated (its level was one lower).
    escalated_from_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("supervision_orders.id", ondelete="SET NULL"))
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_note: Mapped[str] = mapped_column(sa.Text, default="")
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship()
    township: Mapped[Township] = relationship()
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    escalated_from: Mapped["SupervisionOrder | None"] = relationship(remote_side=[id])
    answers: Mapped[list["SupervisionAnswer"]] = relationship(
        back_populates="order", order_by="SupervisionAnswer.id", cascade="all, delete-orphan")

    @property
    def number_text(self) -> str:
        return f"〔{self.year}〕第{self.number}号"

    @property
    def level_label(self) -> str:
        return str(LEVEL_LABELS[self.level])

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def automatic(self) -> bool:
        return self.run_key is not None


answer_files = sa.Table(
    "supervision_answer_files", db.metadata,
    sa.Column("answer_id", sa.ForeignKey("supervision_answers.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("attachment_id", sa.ForeignKey("attachments.id", ondelete="CASCADE"),
              primary_key=True),
)


class SupervisionAnswer(db.Model):
    """The unit's answer: measures and progress, with evidence files of the lead if any."""

    __tablename__ = "supervision_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supervision_orders.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[SupervisionOrder] = relationship(back_populates="answers")
    by: Mapped[User | None] = relationship()
    files: Mapped[list[Attachment]] = relationship(secondary=answer_files)
