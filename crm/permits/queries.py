"""Reading permit checklists: a lead's items, and the overdue items the user may see."""

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.leads.models import Lead
from crm.permits.models import Permit
from crm.townships.models import Township


def lead_permits(lead: Lead) -> list[Permit]:
    """The lead's checklist, by due date."""
    return list(db.session.scalars(
        sa.select(Permit).where(Permit.lead_id == lead.id).order_by(Permit.due_on, Permit.id)))


def not_done(as_of: dt.date) -> sa.ColumnElement:
    """An item not done by the end of ``as_of``."""
    return sa.or_(Permit.done_on.is_(None), Permit.done_on > as_of)


@dataclass
class OverdueGroup:
    """One responsible unit's overdue items (each a permit with its lead and overdue days)."""

    responsible_unit: str
    items: list

    @property
    def worst(self) -> int:
        return max(days for _permit, days in self.items)


def overdue_permits(user, as_of: dt.date, township_id: int | None = None,
                    limit: int = 2000) -> list[OverdueGroup]:
    """Items past due and not done as of ``as_of`` on the in-progress leads ``user`` may see,
    grouped by responsible unit (most items first), each group by due date. One query."""
    stmt = scope_leads(
        sa.select(Permit)
        .join(Lead, Lead.id == Permit.lead_id)
        .join(Township, Township.id == Lead.township_id)
        .where(Permit.due_on < as_of, not_done(as_of), Lead.in_progress)
        .options(contains_eager(Permit.lead).contains_eager(Lead.township))
        .order_by(Permit.responsible_unit, Permit.due_on, Permit.id)
        .limit(limit),
        user,
    )
    if township_id:
        stmt = stmt.where(Lead.township_id == township_id)
    groups: dict[str, OverdueGroup] = {}
    for permit in db.session.scalars(stmt):
        group = groups.setdefault(permit.responsible_unit,
                                  OverdueGroup(permit.responsible_unit, []))
        group.items.append((permit, (as_of - permit.due_on).days))
    return sorted(groups.values(), key=lambda g: (-len(g.items), g.responsible_unit))
