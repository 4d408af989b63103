"""Lead and the rows that hang off it."""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import Fixed, UTCDateTime
from crm.extensions import db
from crm.industries.initial import UNSORTED
from crm.industries.models import Industry
from crm.leads.pipeline import CLOSED_STAGES, LOST_REASONS, STAGES
from crm.townships.models import Township

SOURCES = ("referral", "enterprise", "industry_chain", "capital", "resident", "fair", "agent", "other")
SOURCE_LABELS = {
    "referral": _l("以商招商"),
    "enterprise": _l("以企招商"),
    "industry_chain": _l("产业链招商"),
    "capital": _l("资本招商"),
    "resident": _l("驻点招商"),
    "fair": _l("展会招商"),
    "agent": _l("委托招商"),
    "other": _l("其他"),
}
#: 重点项目: a lead's key-project level (``none``: not a key project).
KEY_LEVELS = ("none", "district", "city", "province")
KEY_LEVEL_LABELS = {
    "none": _l("非重点"),
    "district": _l("区重点"),
    "city": _l("市重点"),
    "province": _l("省重点"),
}
BLOCKER_KINDS = ("land", "power", "approval", "funding", "other")
BLOCKER_LABELS = {
    "land": _l("用地"),
    "power": _l("用电"),
    "approval": _l("审批/手续"),
    "funding": _l("资金"),
    "other": _l("其他"),
}

Wan = Fixed(4)  # 万元, exact to the 元

#: Who holds the investor (DOMAIN "One investor, one owner"): ``sole`` the only live lead of
#: its company, or ruled to stand; ``disputed`` (疑似撞单) another unit had a live lead of the same
#: company first, until a reviewer rules; ``merged`` ruled into another lead (kept for the record,
#: read-only, in no list or statistic).
OWNERSHIPS = ("sole", "disputed", "merged")
#: The ownerships whose leads the statistics count.
COUNTED_OWNERSHIPS = ("sole",)


class Lead(db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        sa.CheckConstraint(sa.column("stage").in_(STAGES), name="stage"),
        sa.CheckConstraint(sa.column("source").in_(SOURCES), name="source"),
        sa.CheckConstraint(
            sa.or_(sa.column("lost_reason").is_(None), sa.column("lost_reason").in_(LOST_REASONS)),
            name="lost_reason",
        ),
        sa.CheckConstraint(sa.column("key_level").in_(KEY_LEVELS), name="key_level"),
        sa.CheckConstraint(sa.column("investment_wan") >= 0, name="investment_not_negative"),
        sa.CheckConstraint(sa.column("version") >= 1, name="version_positive"),
        sa.CheckConstraint(sa.column("ownership").in_(OWNERSHIPS), name="ownership"),
        sa.Index("ix_leads_township_stage", "township_id", "stage"),
        sa.Index("ix_leads_township_follow_up", "township_id", "next_follow_up"),
        sa.Index("ix_leads_township_created_on", "township_id", "created_on"),
        #: The statistics' snapshot searches the history only of leads changed after the as-of date.
        sa.Index("ix_leads_stage_changed_on", "stage_changed_on"),
        #: Deleting a lead checks that none was merged into it (migration 0018).
        sa.Index("ix_leads_merged_into_id", "merged_into_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    company: Mapped[str] = mapped_column(sa.String(200))
    #: The company name normalised (width, spaces, legal suffixes) to find duplicates.
    company_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    #: 统一社会信用代码 (GB 32100-2015), check character verified on input.
    credit_code: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    #: The investor's record (crm/companies); ``company`` keeps the text as typed.
    company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    ownership: Mapped[str] = mapped_column(sa.String(12), default="sole", server_default="sole")
    #: For a ``merged`` lead: the lead it was merged into.
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id"))
    origin: Mapped[str] = mapped_column(sa.String(64), default="")
    #: The industry as last given in words (a form, the API, a file, or the free text of
    #: before the managed list), kept to the character; the column keeps its old name.
    industry_text: Mapped[str] = mapped_column("industry", sa.String(64), default="", index=True)
    #: The managed industry; NULL with a text is 待归类 (unsorted), NULL without one is none.
    industry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("industries.id"), index=True)
    chain: Mapped[str] = mapped_column(sa.String(64), default="")
    source: Mapped[str] = mapped_column(sa.String(20), default="other")
    investment_wan: Mapped[Decimal] = mapped_column(Wan, default=Decimal(0))
    land_mu: Mapped[Decimal | None] = mapped_column(Fixed(2))
    expected_output_wan: Mapped[Decimal | None] = mapped_column(Wan)
    expected_tax_wan: Mapped[Decimal | None] = mapped_column(Wan)
    jobs: Mapped[int | None]
    #: Sum of the capital-arrival entries, kept by the service that adds them.
    funds_arrived_wan: Mapped[Decimal] = mapped_column(Wan, default=Decimal(0))
    stage: Mapped[str] = mapped_column(sa.String(16), default="contact")
    #: Effective date of the last stage change (a new change may not be dated before it).
    stage_changed_on: Mapped[dt.date]
    lost_reason: Mapped[str | None] = mapped_column(sa.String(20))
    #: The business date the lead entered the books; may be back-dated, never in the future.
    created_on: Mapped[dt.date]
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), active_history=True)
    primary_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: 帮包领导: the leading cadre who sponsors the project (a name; cadres need no login).
    sponsor: Mapped[str] = mapped_column(sa.String(64), default="")
    contact_name: Mapped[str] = mapped_column(sa.String(64), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(32), default="")
    next_follow_up: Mapped[dt.date | None]
    #: Date of the latest visit, kept by the visit service (the colour's "no visit for 60 days").
    last_visit_on: Mapped[dt.date | None]
    planned_sign_date: Mapped[dt.date | None]
    planned_start_date: Mapped[dt.date | None]
    planned_production_date: Mapped[dt.date | None]
    #: 纳统日期: when the project entered the official statistics.
    stats_included_on: Mapped[dt.date | None]
    #: 重点项目级别 (KEY_LEVELS): 区重点, 市重点, 省重点, or ``none``.
    key_level: Mapped[str] = mapped_column(sa.String(16), default="none", server_default="none")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    township: Mapped[Township] = relationship()
    industry_ref: Mapped[Industry | None] = relationship()
    primary_officer: Mapped[User | None] = relationship(foreign_keys=[primary_officer_id])
    helpers: Mapped[list["LeadOfficer"]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="LeadOfficer.user_id"
    )
    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="Contact.id"
    )
    stage_changes: Mapped[list["StageChange"]] = relationship(
        back_populates="lead", cascade="all, delete-orphan",
        order_by="(StageChange.effective_on, StageChange.id)",
    )
    blockers: Mapped[list["Blocker"]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="Blocker.id"
    )
    fund_entries: Mapped[list["FundEntry"]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="FundEntry.arrived_on"
    )

    @property
    def merged(self) -> bool:
        return self.ownership == "merged"

    @property
    def disputed(self) -> bool:
        return self.ownership == "disputed"

    def __repr__(self):
        return f"<Lead {self.id} {self.name} {self.stage}>"

    @property
    def industry(self) -> str:
        """The industry's managed name; 待归类 for text that matched none; "" for none."""
        if self.industry_ref is not None:
            return self.industry_ref.name
        return UNSORTED if self.industry_text else ""

    @property
    def chain_name(self) -> str:
        """The 产业链 of its managed industry ("" when it has none)."""
        return self.industry_ref.chain if self.industry_ref is not None else ""

    @property
    def officer_ids(self) -> list[int]:
        ids = [self.primary_officer_id] if self.primary_officer_id else []
        return ids + [h.user_id for h in self.helpers if h.user_id != self.primary_officer_id]

    @hybrid_property
    def in_progress(self) -> bool:
        """In progress (在办): neither producing nor lost. The one test of it, in Python and SQL
        (``select(Lead).where(Lead.in_progress)``)."""
        return self.stage not in CLOSED_STAGES

    @in_progress.inplace.expression
    @classmethod
    def _in_progress_expression(cls):
        return cls.stage.not_in(CLOSED_STAGES)


class LeadOfficer(db.Model):
    """A helper officer on a lead (the primary officer is ``Lead.primary_officer_id``)."""

    __tablename__ = "lead_officers"

    lead_id: Mapped[int] = mapped_column(
        sa.ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True, index=True)

    lead: Mapped[Lead] = relationship(back_populates="helpers")
    user: Mapped[User] = relationship(lazy="joined")


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(64), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="")

    lead: Mapped[Lead] = relationship(back_populates="contacts")


class StageChange(db.Model):
    """One stage entered by a lead; never updated, never deleted.

    A move that skips stages writes one row per stage entered, the skipped ones ``implied``, all
    on the same effective date: so the first entry of every stage is ``MIN(effective_on)``.
    """

    __tablename__ = "stage_changes"
    __table_args__ = (
        sa.CheckConstraint(sa.column("to_stage").in_(STAGES), name="to_stage"),
        sa.CheckConstraint(
            sa.or_(sa.column("from_stage").is_(None), sa.column("from_stage").in_(STAGES)),
            name="from_stage",
        ),
        sa.CheckConstraint(
            sa.or_(sa.column("lost_reason").is_(None), sa.column("lost_reason").in_(LOST_REASONS)),
            name="lost_reason",
        ),
        sa.Index("ix_stage_changes_lead_stage_on", "lead_id", "to_stage", "effective_on"),
        sa.Index("ix_stage_changes_stage_on", "to_stage", "effective_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(sa.String(16))
    to_stage: Mapped[str] = mapped_column(sa.String(16))
    effective_on: Mapped[dt.date]
    #: True for a stage skipped by a forward move (counted as reached that day).
    implied: Mapped[bool] = mapped_column(default=False)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Who the move is credited to: the lead's primary officer at the time of the move (not
    #: whoever recorded it); the per-officer statistics count by it.
    credited_officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    lost_reason: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="stage_changes")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class Blocker(db.Model):
    """要素保障问题: land, power, approvals, funding or other; open until resolved."""

    __tablename__ = "blockers"
    __table_args__ = (
        sa.CheckConstraint(sa.column("kind").in_(BLOCKER_KINDS), name="kind"),
        sa.CheckConstraint(
            sa.or_(sa.column("resolved_on").is_(None), sa.column("resolved_on") >= sa.column("opened_on")),
            name="resolved_after_opened",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.Text)
    owner: Mapped[str] = mapped_column(sa.String(64), default="")
    opened_on: Mapped[dt.date]
    resolved_on: Mapped[dt.date | None]
    resolution: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="blockers")

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None

    @property
    def kind_label(self):
        return BLOCKER_LABELS[self.kind]


class FundEntry(db.Model):
    """到位资金: capital that arrived on a date, in 万元."""

    __tablename__ = "fund_entries"
    __table_args__ = (
        sa.CheckConstraint(sa.column("amount_wan") > 0, name="amount_positive"),
        sa.Index("ix_fund_entries_lead_on", "lead_id", "arrived_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    arrived_on: Mapped[dt.date]
    amount_wan: Mapped[Decimal] = mapped_column(Wan)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="fund_entries")
    user: Mapped[User | None] = relationship()
