"""Companies (投资方) and disputes (疑似撞单) between the leads of two units."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.leads.models import Lead

DISPUTE_STATUSES = ("open", "ruled")
DECISIONS = ("keep_first", "keep_second", "separate")
DECISION_LABELS = {
    "keep_first": _l("保留先登记的项目（合并后登记的）"),
    "keep_second": _l("保留后登记的项目（合并先登记的）"),
    "separate": _l("分别保留（同一投资方的不同项目）"),
}
STATUS_LABELS = {"open": _l("待裁定"), "ruled": _l("已裁定")}


class Company(db.Model):
    """An investor: any number of leads (projects) in any units."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: As first typed (a lead keeps its own spelling in ``Lead.company``).
    name: Mapped[str] = mapped_column(sa.String(200))
    #: crm.companies.names.normalise(name): what two spellings of one company share.
    name_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    #: 统一社会信用代码, unique when known.
    credit_code: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    #: 来源地: the investor's home city.
    origin: Mapped[str] = mapped_column(sa.String(64), default="")
    #: A later group (集团) the company belongs to.
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("companies.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped["Company | None"] = relationship(remote_side=[id])

    def __repr__(self):
        return f"<Company {self.id} {self.name}>"


class Dispute(db.Model):
    """Two live leads of one investor in two units; the first registered holds it until ruled."""

    __tablename__ = "disputes"
    __table_args__ = (
        sa.CheckConstraint(sa.column("status").in_(DISPUTE_STATUSES), name="status"),
        sa.CheckConstraint(
            sa.or_(sa.column("decision").is_(None), sa.column("decision").in_(DECISIONS)),
            name="decision"),
        sa.Index("ix_disputes_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The lead registered first (earliest created_on, then lowest id).
    first_lead_id: Mapped[int] = mapped_column(
        sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    #: The lead that came second (the disputed one).
    second_lead_id: Mapped[int] = mapped_column(
        sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(8), default="open")
    decision: Mapped[str | None] = mapped_column(sa.String(12))
    ruled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    ruled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    first_lead: Mapped[Lead] = relationship(foreign_keys=[first_lead_id])
    second_lead: Mapped[Lead] = relationship(foreign_keys=[second_lead_id])
    ruled_by: Mapped[User | None] = relationship()

    @property
    def lead_ids(self) -> list[int]:
        return [self.first_lead_id, self.second_lead_id]

    @property
    def status_label(self):
        return STATUS_LABELS[self.status]

    @property
    def decision_label(self):
        return DECISION_LABELS.get(self.decision, "")
