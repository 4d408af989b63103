"""The visit model."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.leads.models import Lead

KINDS = ("visit", "reception", "meeting", "call", "inspection", "online")
KIND_LABELS = {
    "visit": _l("上门走访"),
    "reception": _l("来访接待"),
    "meeting": _l("洽谈会"),
    "call": _l("电话"),
    "inspection": _l("考察"),
    "online": _l("线上"),
}


class Visit(db.Model):
    __tablename__ = "visits"
    __table_args__ = (
        sa.CheckConstraint(sa.column("kind").in_(KINDS), name="kind"),
        sa.Index("ix_visits_lead_on", "lead_id", "visited_on"),
        sa.Index("ix_visits_user_on", "user_id", "visited_on"),
        sa.Index("ix_visits_township_on", "township_id", "visited_on"),
        sa.Index("ix_visits_client_id", "client_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    #: The lead's unit when logged, so visit counts per unit need no join.
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"))
    #: The officer who logged it.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    visited_on: Mapped[dt.date]
    kind: Mapped[str] = mapped_column(sa.String(16))
    summary: Mapped[str] = mapped_column(sa.Text)
    next_step: Mapped[str] = mapped_column(sa.Text, default="")
    next_follow_up: Mapped[dt.date | None]
    #: Other officers who took part, as free text names.
    participants: Mapped[str] = mapped_column(sa.String(200), default="")
    #: A UUID made by the client that logged it (canonical lower-case text): a resend with the
    #: same one returns this visit instead of logging another. Unique; NULL for visits without.
    client_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lead: Mapped[Lead] = relationship()
    user: Mapped[User] = relationship(lazy="joined")

    @property
    def kind_label(self):
        return KIND_LABELS[self.kind]
