"""Reading claims and evidence: always through the one policy (another unit's claim is 404)."""

import datetime as dt

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload, selectinload

from crm.auth.models import User
from crm.auth.permissions import DISTRICT_ROLES, can, editable_leads, scope_leads
from crm.claims.models import Attachment, Claim, ClaimEvidence, ClaimReview
from crm.clock import business_tz
from crm.extensions import db
from crm.leads.models import Lead
from crm.paging import Page, page_of


def claim_options():
    """What a claim's page, list row or JSON needs, in a fixed number of queries."""
    return (
        joinedload(Claim.lead).joinedload(Lead.township),
        joinedload(Claim.submitted_by),
        selectinload(Claim.evidence_links).joinedload(ClaimEvidence.attachment),
        selectinload(Claim.reviews).joinedload(ClaimReview.by),
    )


def visible_claims(user: User) -> sa.Select:
    """The claims on the leads ``user`` may see. The district's roles see every lead: no join
    to the leads then, so counting the 待核验 queue reads the status index alone (10,000
    pending claims: ~1 ms instead of ~40 ms on SQLite)."""
    if user.role in DISTRICT_ROLES:
        return sa.select(Claim)
    return scope_leads(sa.select(Claim).join(Lead, Lead.id == Claim.lead_id), user)


def get_claim_or_404(claim_id: int, user: User) -> Claim:
    claim = db.session.scalar(
        visible_claims(user).where(Claim.id == claim_id).options(*claim_options()))
    if claim is None:
        abort(404)
    return claim


def get_attachment_or_404(attachment_id: int, user: User) -> Attachment:
    attachment = db.session.scalar(
        scope_leads(sa.select(Attachment).join(Lead, Lead.id == Attachment.lead_id), user)
        .where(Attachment.id == attachment_id).options(joinedload(Attachment.lead)))
    if attachment is None or not can(user, "attachment.view", attachment):
        abort(404)
    return attachment




def submitted_before(day: dt.date) -> dt.datetime:
    """The UTC instant the business day ``day`` begins (Asia/Shanghai midnight)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=business_tz())
    return start.astimezone(dt.UTC)


def list_claims(user: User, *, status=None, kind=None, township_id=None, lead_id=None,
                older_than: dt.date | None = None, page: int = 1, per_page: int = 50) -> Page:
    """Claims the user may see, oldest submission first; ``older_than``: submitted before that
    business day."""
    stmt = visible_claims(user)
    if status:
        stmt = stmt.where(Claim.status == status)
    if kind:
        stmt = stmt.where(Claim.kind == kind)
    if township_id:
        stmt = stmt.where(Claim.lead_id.in_(
            sa.select(Lead.id).where(Lead.township_id == township_id)))
    if lead_id:
        stmt = stmt.where(Claim.lead_id == lead_id)
    if older_than:
        stmt = stmt.where(Claim.submitted_at < submitted_before(older_than))
    return page_of(stmt, page, per_page, (Claim.submitted_at, Claim.id), claim_options())


def next_pending(user: User) -> int | None:
    """The id of the claim that has waited longest among those the user may see."""
    return db.session.scalar(
        visible_claims(user).where(Claim.status == "pending")
        .with_only_columns(Claim.id).order_by(Claim.submitted_at, Claim.id).limit(1))


def pending_count(user: User) -> int:
    """The number beside 待核验 in the navigation."""
    return db.session.scalar(
        visible_claims(user).where(Claim.status == "pending")
        .with_only_columns(sa.func.count(Claim.id))) or 0


def returned_for(user: User, limit: int = 50) -> list[Claim]:
    """Returned claims on the leads ``user`` may change (我的工作)."""
    lead_ids = editable_leads(user).with_only_columns(Lead.id)
    return list(db.session.scalars(
        sa.select(Claim).join(Lead, Lead.id == Claim.lead_id)
        .where(Claim.status == "returned", Claim.lead_id.in_(lead_ids))
        .options(*claim_options()).order_by(Claim.decided_at, Claim.id).limit(limit)
    ).unique())


def claims_of_lead(lead: Lead) -> list[Claim]:
    return list(db.session.scalars(
        sa.select(Claim).where(Claim.lead_id == lead.id)
        .options(*claim_options()[1:]).order_by(Claim.effective_on, Claim.id)
    ).unique())


def attachments_of_lead(lead: Lead) -> list[Attachment]:
    return list(db.session.scalars(
        sa.select(Attachment).where(Attachment.lead_id == lead.id)
        .options(joinedload(Attachment.uploaded_by)).order_by(Attachment.id)))


def workdays_back(as_of: dt.date, n: int) -> dt.date:
    """The day from which a claim submitted earlier has waited more than ``n`` workdays by
    ``as_of``: the (n+1)-th workday counting back from ``as_of`` (itself included)."""
    from crm.reminders.workdays import is_workday

    day, seen = as_of, 0
    for _ in range(400):
        if is_workday(day):
            seen += 1
            if seen == n + 1:
                return day
        day -= dt.timedelta(days=1)
    return day


def overdue_pending(as_of: dt.date, workdays: int = 5) -> list[Claim]:
    """Pending claims that have waited more than ``workdays`` workdays by ``as_of`` (every unit)."""
    cutoff = submitted_before(workdays_back(as_of, workdays))
    return list(db.session.scalars(
        sa.select(Claim).where(Claim.status == "pending", Claim.submitted_at < cutoff)
        .options(joinedload(Claim.lead).joinedload(Lead.township))
        .order_by(Claim.submitted_at, Claim.id)))


def lead_attachment(claim, attachment_id: int | None):
    """One of the claim's lead's files (None when absent or of another lead)."""
    attachment = db.session.get(Attachment, attachment_id) if attachment_id is not None else None
    return attachment if attachment is not None and attachment.lead_id == claim.lead_id else None
