"""Reading companies and disputes, always through the one policy (visible_leads)."""


import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.auth.permissions import visible_leads
from crm.companies.models import Company, Dispute
from crm.companies.names import normalise
from crm.extensions import db
from crm.leads.models import Lead
from crm.leads.validation import normalize_credit_code
from crm.paging import Page, page_of
from crm.townships.models import Township


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"




def search_companies(user: User, q: str | None, page: int = 1, per_page: int = 50) -> Page:
    """Companies by name, normalised name or credit code (all when ``q`` is empty), by name.
    ``lead_count`` counts only the leads ``user`` may see (merged leads nowhere)."""
    stmt = sa.select(Company)
    q = (q or "").strip()
    if q:
        conditions = [Company.name.ilike(_like(q), escape="\\")]
        key = normalise(q)
        if key:
            conditions.append(Company.name_key.ilike(_like(key), escape="\\"))
        code = normalize_credit_code(q)
        if code:
            conditions.append(Company.credit_code.like(_like(code), escape="\\"))
        stmt = stmt.where(sa.or_(*conditions))
    total = db.session.scalar(stmt.with_only_columns(sa.func.count(Company.id)))
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    companies = db.session.scalars(
        stmt.order_by(Company.name_key, Company.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    counts = lead_counts(user, [c.id for c in companies])
    return Page([(c, counts.get(c.id, 0)) for c in companies], total, page, per_page)


def lead_counts(user: User, company_ids) -> dict[int, int]:
    """Each company's leads that ``user`` may see."""
    if not company_ids:
        return {}
    visible = visible_leads(user).subquery()
    return dict(db.session.execute(
        sa.select(visible.c.company_id, sa.func.count())
        .where(visible.c.company_id.in_(list(company_ids)))
        .group_by(visible.c.company_id)).all())


def get_company_or_404(company_id: int) -> Company:
    company = db.session.get(Company, company_id)
    if company is None:
        abort(404)
    return company


def company_projects(user: User, company: Company) -> tuple[list[Lead], int]:
    """The company's leads ``user`` may see (with their units), and how many others there are
    in units they may not see (merged leads count in neither)."""
    leads = db.session.scalars(
        visible_leads(user).where(Lead.company_id == company.id)
        .options(joinedload(Lead.township)).order_by(Lead.created_on, Lead.id)).all()
    total = db.session.scalar(
        sa.select(sa.func.count(Lead.id))
        .where(Lead.company_id == company.id, Lead.ownership != "merged"))
    return list(leads), total - len(leads)


_QUEUE_ORDER = (sa.case((Dispute.status == "open", 0), else_=1), Dispute.created_at, Dispute.id)


#: A dispute with what the queue shows: both leads with their units, who ruled.
_WITH_LEADS = (joinedload(Dispute.first_lead).joinedload(Lead.township),
               joinedload(Dispute.second_lead).joinedload(Lead.township),
               joinedload(Dispute.ruled_by))


def _disputes(status: str | None) -> sa.Select:
    return sa.select(Dispute).where(Dispute.status == status) if status else sa.select(Dispute)


def list_disputes(status: str | None = None) -> list[Dispute]:
    """Disputes (the queue: open first, oldest first). Callers check ``dispute.review``."""
    return list(db.session.scalars(
        _disputes(status).options(*_WITH_LEADS).order_by(*_QUEUE_ORDER)).unique())


def dispute_page(status: str | None, page: int, per_page: int) -> Page:
    """One page of ``list_disputes``: a count and the page's disputes with their leads."""
    return page_of(_disputes(status), page, per_page, _QUEUE_ORDER, _WITH_LEADS)


def get_dispute_or_404(dispute_id: int) -> Dispute:
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None:
        abort(404)
    return dispute


def open_disputes_by_unit(township_ids=None) -> dict[int, int]:
    """Open disputes per unit (a dispute counts for both its units), for the bulletin."""
    first = sa.select(Lead.township_id.label("township_id"), Dispute.id.label("dispute_id")).join(
        Dispute, Dispute.first_lead_id == Lead.id).where(Dispute.status == "open")
    second = sa.select(Lead.township_id.label("township_id"), Dispute.id.label("dispute_id")).join(
        Dispute, Dispute.second_lead_id == Lead.id).where(Dispute.status == "open")
    both = sa.union(first, second).subquery()
    stmt = sa.select(both.c.township_id, sa.func.count()).group_by(both.c.township_id)
    if township_ids is not None:
        stmt = stmt.where(both.c.township_id.in_(list(township_ids)))
    return dict(db.session.execute(stmt).all())


def township_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Township.id, Township.name)).all())
