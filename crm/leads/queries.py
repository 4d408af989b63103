"""Reading leads: the filtered list with its totals, and a lead's timeline."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.audit.models import AuditEntry
from crm.auth.models import UNIT_ROLES, User
from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.industries.queries import industry_condition
from crm.leads.colour import ColouredLead, colour_expr
from crm.leads.models import FundEntry, Lead, LeadOfficer, StageChange
from crm.leads.pipeline import SCALE_CLASSES
from crm.paging import Page
from crm.visits.models import Visit

SORTS = {
    "updated": (Lead.updated_at.desc(), Lead.id.desc()),
    "investment": (Lead.investment_wan.desc(), Lead.id.desc()),
    "follow_up": (Lead.next_follow_up.is_(None), Lead.next_follow_up, Lead.id),
    "created": (Lead.created_on.desc(), Lead.id.desc()),
    "name": (Lead.name, Lead.id),
}

#: The stage filter's value for the leads in progress (在办: ``Lead.in_progress``), as URLs spell
#: it (``?stage=active``); any other value is one stage's code.
IN_PROGRESS = "active"
#: The key-level filter's value for every key project (区、市、省重点), as URLs spell it.
KEY_PROJECTS = "any"


@dataclass
class LeadFilter:
    township_id: int | None = None
    stage: str | None = None
    officer_id: int | None = None
    industry: str | None = None
    source: str | None = None
    color: str | None = None
    overdue: bool = False
    scale: str | None = None
    #: 重点项目: one key level, or ``KEY_PROJECTS`` for every level but ``none``.
    key_level: str | None = None
    q: str | None = None
    sort: str = "updated"
    #: Only these leads: a SELECT of lead ids (the drill-down from a statistic, which the
    #: statistics give: this module does not compute them).
    lead_ids: sa.Select | None = None

    def apply(self, stmt: sa.Select, as_of: dt.date) -> sa.Select:
        if self.township_id:
            stmt = stmt.where(Lead.township_id == self.township_id)
        if self.stage == IN_PROGRESS:
            stmt = stmt.where(Lead.in_progress)
        elif self.stage:
            stmt = stmt.where(Lead.stage == self.stage)
        if self.officer_id:
            helper = sa.select(LeadOfficer.lead_id).where(LeadOfficer.user_id == self.officer_id)
            stmt = stmt.where(
                sa.or_(Lead.primary_officer_id == self.officer_id, Lead.id.in_(helper))
            )
        if self.industry:
            stmt = stmt.where(industry_condition(self.industry))
        if self.source:
            stmt = stmt.where(Lead.source == self.source)
        if self.color:
            stmt = stmt.where(colour_expr(as_of) == self.color)
        if self.overdue:
            stmt = stmt.where(Lead.next_follow_up < as_of)
        if self.scale in SCALE_CLASSES:
            stmt = stmt.where(Lead.investment_wan >= SCALE_CLASSES[self.scale])
        if self.key_level == KEY_PROJECTS:
            stmt = stmt.where(Lead.key_level != "none")
        elif self.key_level:
            stmt = stmt.where(Lead.key_level == self.key_level)
        if self.lead_ids is not None:
            stmt = stmt.where(Lead.id.in_(self.lead_ids))
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            officers = sa.select(User.id).where(sa.or_(
                User.display_name.ilike(pattern, escape="\\"),
                User.username.ilike(pattern, escape="\\")))
            stmt = stmt.where(sa.or_(Lead.name.ilike(pattern, escape="\\"),
                                     Lead.company.ilike(pattern, escape="\\"),
                                     Lead.credit_code.ilike(pattern, escape="\\"),
                                     Lead.primary_officer_id.in_(officers)))
        return stmt


@dataclass
class LeadPage(Page):
    """A page of the lead list (items are ``ColouredLead``), with the investment of all its
    matches."""

    investment_wan: Decimal = Decimal(0)


def list_leads(user: User, flt: LeadFilter, as_of: dt.date, page: int = 1, per_page: int = 50):
    """One page of the leads ``user`` may see, with the count and total of all that match.

    Three queries whatever the size: totals, the page (with colour), officers of the page.
    """
    base = flt.apply(scope_leads(sa.select(Lead), user), as_of)
    totals = base.with_only_columns(
        sa.func.count(Lead.id), sa.func.coalesce(sa.func.sum(Lead.investment_wan), 0)
    ).order_by(None)
    total, invest = db.session.execute(totals).one()
    colour = colour_expr(as_of).label("colour")
    stmt = (
        base.add_columns(colour)
        .options(selectinload(Lead.helpers), sa.orm.joinedload(Lead.primary_officer),
                 sa.orm.joinedload(Lead.township), sa.orm.joinedload(Lead.industry_ref))
        .order_by(*SORTS.get(flt.sort, SORTS["updated"]))
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = db.session.execute(stmt).unique().all()
    items = [ColouredLead(lead, lead_colour) for lead, lead_colour in rows]
    return LeadPage(items, total, page, per_page, investment_wan=Decimal(invest or 0))


@dataclass
class TimelineItem:
    on: dt.date
    at: dt.datetime
    kind: str  # visit | stage | edit | funds | blocker
    user: User | None
    obj: object
    changes: dict = field(default_factory=dict)


def timeline(lead: Lead) -> list[TimelineItem]:
    """Visits, stage changes and edits of a lead, newest first (a fixed number of queries)."""
    from crm.clock import local_time

    items: list[TimelineItem] = []
    visits = db.session.scalars(
        sa.select(Visit).where(Visit.lead_id == lead.id).options(sa.orm.joinedload(Visit.user))
    ).all()
    for v in visits:
        items.append(TimelineItem(v.visited_on, v.created_at, "visit", v.user, v))
    changes = db.session.scalars(
        sa.select(StageChange).where(StageChange.lead_id == lead.id, StageChange.implied.is_(False))
        .options(sa.orm.joinedload(StageChange.user))
    ).all()
    for c in changes:
        items.append(TimelineItem(c.effective_on, c.created_at, "stage", c.user, c))
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.lead_id == lead.id,
                                    AuditEntry.action != "lead.create")
        .options(sa.orm.joinedload(AuditEntry.user))
    ).all()
    for e in entries:
        kind = {"lead.funds": "funds", "blocker.add": "blocker", "blocker.resolve": "blocker",
                "lead.assign": "assign", "visit.edit": "visit_edit"}.get(e.action, "edit")
        if e.action.startswith(("claim.", "attachment.")):
            kind = "claim"
        elif e.action.startswith("move_back."):
            kind = "move_back"
        items.append(TimelineItem(_arrival_day(e) if kind == "funds" else
                                  local_time(e.created_at).date(), e.created_at, kind, e.user, e,
                                  e.changes))
    items.sort(key=lambda i: (i.on, i.at), reverse=True)
    return items


def _arrival_day(entry: AuditEntry) -> dt.date:
    """A capital entry's place on the timeline: the day the money arrived (the entry's own day
    when the trail does not say)."""
    from crm.clock import local_time

    arrived = (entry.changes or {}).get("arrived_on", [None, None])[1]
    try:
        return dt.date.fromisoformat(str(arrived))
    except ValueError:
        return local_time(entry.created_at).date()


def fund_entries(lead: Lead):
    return db.session.scalars(
        sa.select(FundEntry).where(FundEntry.lead_id == lead.id).order_by(FundEntry.arrived_on)
    ).all()


def unit_officers(township_id: int) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).where(User.township_id == township_id, User.active,
                              User.role.in_(UNIT_ROLES))
        .order_by(User.role.desc(), User.display_name)
    ))


def officers_by_unit(township_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Each unit's active people, as ``unit_officers`` orders them: (id, name); one query."""
    found: dict[int, list[tuple[int, str]]] = {unit_id: [] for unit_id in township_ids}
    for user in db.session.scalars(
            sa.select(User).where(User.township_id.in_(township_ids), User.active,
                                  User.role.in_(UNIT_ROLES))
            .order_by(User.role.desc(), User.display_name)):
        found[user.township_id].append((user.id, user.display_name))
    return found
