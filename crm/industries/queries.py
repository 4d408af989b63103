"""Reading the industry list: the select's groups, a lead filter, and the 待归类 texts."""

import sqlalchemy as sa

from crm.extensions import db
from crm.industries import lookup
from crm.industries.models import Industry
from crm.leads.models import Lead


def all_industries() -> list[Industry]:
    return list(db.session.scalars(sa.select(Industry).order_by(Industry.sort_order, Industry.id)))


def chain_groups(industries, *, active_only: bool = True,
                 include_id: int | None = None) -> list[tuple[str, list[Industry]]]:
    """The (active) industries, and ``include_id``'s, grouped by 产业链 in the list's order:
    [(chain, [industry, ...]), ...]."""
    groups: dict[str, list[Industry]] = {}
    for industry in industries:
        if industry.active or not active_only or industry.id == include_id:
            groups.setdefault(industry.chain, []).append(industry)
    return list(groups.items())


def industry_condition(text: str):
    """A WHERE condition on ``Lead`` for a filter's text: the industry of that name or alias;
    待归类 for the unsorted leads; any other text matches the unsorted leads with that text."""
    if lookup.is_unsorted(text):
        return sa.and_(Lead.industry_id.is_(None), Lead.industry_text != "")
    industry = lookup.find(text)
    if industry is not None:
        return Lead.industry_id == industry.id
    return sa.and_(Lead.industry_id.is_(None), Lead.industry_text == text)


def unsorted_texts() -> list[tuple[str, int]]:
    """The texts of the 待归类 leads with how many leads have each (every unit: admins sort)."""
    stmt = (sa.select(Lead.industry_text, sa.func.count(Lead.id))
            .where(Lead.industry_id.is_(None), Lead.industry_text != "")
            .group_by(Lead.industry_text).order_by(sa.func.count(Lead.id).desc(), Lead.industry_text))
    return [(text, n) for text, n in db.session.execute(stmt)]


def usage() -> dict[int, int]:
    """Leads per industry id."""
    stmt = (sa.select(Lead.industry_id, sa.func.count(Lead.id))
            .where(Lead.industry_id.is_not(None)).group_by(Lead.industry_id))
    return dict(db.session.execute(stmt).all())
