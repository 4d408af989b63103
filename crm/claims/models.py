"""Evidence files (佐证材料), milestone claims (申报) and their reviews (核验)."""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.leads.models import FundEntry, Lead, Wan
from crm.townships.models import Township

ATTACHMENT_KINDS = ("contract", "permit", "site_photo", "license", "stats_proof", "bank_receipt",
                    "other")
ATTACHMENT_KIND_LABELS = {
    "contract": _l("合同/协议"),
    "permit": _l("施工许可证等手续"),
    "site_photo": _l("现场照片"),
    "license": _l("营业执照/投产证明"),
    "stats_proof": _l("纳统证明"),
    "bank_receipt": _l("银行回单/验资报告"),
    "other": _l("其他材料"),
}
#: The milestones a claim may be for; the first three are stage entries.
CLAIM_KINDS = ("signed", "started", "producing", "stats_included", "funds")
STAGE_CLAIMS = ("signed", "started", "producing")
CLAIM_KIND_LABELS = {
    "signed": _l("签约"),
    "started": _l("开工"),
    "producing": _l("投产"),
    "stats_included": _l("纳统"),
    "funds": _l("到位资金"),
}
#: Verifying a claim needs at least one evidence file of one of these kinds.
REQUIRED_EVIDENCE = {
    "signed": ("contract",),
    "started": ("permit", "site_photo"),
    "producing": ("license", "site_photo"),
    "stats_included": ("stats_proof",),
    "funds": ("bank_receipt",),
}
STATUSES = ("pending", "verified", "returned", "withdrawn")
#: A claim still standing (a new one for the same milestone is not made while one is live).
LIVE_STATUSES = ("pending", "verified", "returned")
STATUS_LABELS = {
    "pending": _l("待核验"),
    "verified": _l("已核验"),
    "returned": _l("已退回"),
    "withdrawn": _l("已撤回"),
}
DECISIONS = ("verify", "return")
DECISION_LABELS = {"verify": _l("通过"), "return": _l("退回")}


class Attachment(db.Model):
    """An evidence file of a lead; the bytes live in storage under ``storage_key``."""

    __tablename__ = "attachments"
    __table_args__ = (
        sa.CheckConstraint(sa.column("kind").in_(ATTACHMENT_KINDS), name="kind"),
        sa.CheckConstraint(sa.column("size") > 0, name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: As the uploader named it (shown, never trusted: the type comes from the content).
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    #: SHA-256 of the bytes: the same file on two leads is shown to the reviewer as reused.
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(200))
    width: Mapped[int | None]
    height: Mapped[int | None]
    #: A photo's capture time and place from its EXIF, when present and sane.
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    gps_lat: Mapped[float | None] = mapped_column(sa.Float)
    gps_lon: Mapped[float | None] = mapped_column(sa.Float)
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship()
    uploaded_by: Mapped[User | None] = relationship()

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def kind_label(self):
        return ATTACHMENT_KIND_LABELS[self.kind]


class Claim(db.Model):
    """One milestone claimed for a lead: made by a move, a 纳统 date or a capital entry."""

    __tablename__ = "claims"
    __table_args__ = (
        sa.CheckConstraint(sa.column("kind").in_(CLAIM_KINDS), name="kind"),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status"),
        sa.Index("ix_claims_lead_kind", "lead_id", "kind"),
        #: The 待核验 queue: pending claims, oldest first.
        sa.Index("ix_claims_status_submitted_at", "status", "submitted_at"),
        sa.Index("ix_claims_township_status", "township_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The milestone's own date (stage change's effective date, 纳统 date, arrival date).
    effective_on: Mapped[dt.date]
    #: For ``funds``: the amount of the capital entry (万元, exact).
    amount_wan: Mapped[Decimal | None] = mapped_column(Wan)
    fund_entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fund_entries.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    #: Who made it (NULL: the system, e.g. history migrated in as verified).
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The business date (Asia/Shanghai) of the review that verified it; NULL unless verified.
    #: The statistics count a claim for an as-of date from this day on, at its ``effective_on``
    #: (history migrated in is verified on its own effective date).
    verified_on: Mapped[dt.date | None]

    lead: Mapped[Lead] = relationship(backref=backref(
        "claims", order_by="Claim.id", cascade="all, delete-orphan", passive_deletes=True))
    township: Mapped[Township] = relationship()
    submitted_by: Mapped[User | None] = relationship()
    fund_entry: Mapped[FundEntry | None] = relationship()
    evidence_links: Mapped[list["ClaimEvidence"]] = relationship(
        back_populates="claim", cascade="all, delete-orphan", order_by="ClaimEvidence.added_at")
    reviews: Mapped[list["ClaimReview"]] = relationship(
        back_populates="claim", cascade="all, delete-orphan", order_by="ClaimReview.id")

    @property
    def evidence(self) -> list[Attachment]:
        return [link.attachment for link in self.evidence_links]

    @property
    def kind_label(self):
        return CLAIM_KIND_LABELS[self.kind]

    @property
    def status_label(self):
        return STATUS_LABELS[self.status]

    @property
    def last_review(self):
        return self.reviews[-1] if self.reviews else None


class ClaimEvidence(db.Model):
    """An evidence file attached to a claim."""

    __tablename__ = "claim_evidence"

    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id", ondelete="CASCADE"), primary_key=True)
    attachment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True, index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    claim: Mapped[Claim] = relationship(back_populates="evidence_links")
    attachment: Mapped[Attachment] = relationship(lazy="joined")


class ClaimReview(db.Model):
    """The bureau's decision on a claim: ``verify`` or ``return`` (with an opinion)."""

    __tablename__ = "claim_reviews"
    __table_args__ = (sa.CheckConstraint(sa.column("decision").in_(DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(sa.ForeignKey("claims.id", ondelete="CASCADE"),
                                          index=True)
    decision: Mapped[str] = mapped_column(sa.String(8))
    opinion: Mapped[str] = mapped_column(sa.Text, default="")
    #: The reviewer; NULL for the system (history migrated in as verified).
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    claim: Mapped[Claim] = relationship(back_populates="reviews")
    by: Mapped[User | None] = relationship()

    @property
    def decision_label(self):
        return DECISION_LABELS[self.decision]
