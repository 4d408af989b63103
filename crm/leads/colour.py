"""The project colour (红黄蓝): in SQL for lists, in Python with reason.

Both forms live here and a test checks they agree.
"""

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.orm.attributes import set_committed_value

from crm.db import in_groups
from crm.extensions import db
from crm.leads.models import Lead
from crm.leads.pipeline import CLOSED_STAGES, NEXT_MILESTONE
from crm.permits.models import Permit

COLOURS = ("red", "yellow", "blue")
COLOUR_LABELS = {"red": _l("红"), "yellow": _l("黄"), "blue": _l("蓝")}
MILESTONE_LABELS = {
    "planned_sign_date": _l("计划签约日期"),
    "planned_start_date": _l("计划开工日期"),
    "planned_production_date": _l("计划投产日期"),
}


def _limits():
    cfg = current_app.config
    return cfg["CRM_RED_OVERDUE_DAYS"], cfg["CRM_IDLE_VISIT_DAYS"]


def lead_colour(lead: Lead, as_of: dt.date) -> tuple[str | None, list[str]]:
    """(colour, reasons) of a lead as of a date; (None, []) for producing and lost leads.

    Reads ``lead.permits``: load them with the lead (``selectinload(Lead.permits)``) for a list.
    """
    if lead.stage not in NEXT_MILESTONE and lead.stage != "contact":
        return None, []
    red_days, idle_days = _limits()
    reasons: list[str] = []
    colour = "blue"
    field = NEXT_MILESTONE.get(lead.stage)
    planned = getattr(lead, field) if field else None
    if planned is not None and planned < as_of:
        overdue = (as_of - planned).days
        reasons.append(ngettext("%(what)s已过 %(num)s 天", "%(what)s已过 %(num)s 天", overdue,
                                 what=MILESTONE_LABELS[field]))
        colour = "red" if overdue > red_days else "yellow"
    for permit in lead.permits:
        overdue = permit.overdue_days(as_of)
        if overdue > 0:
            reasons.append(ngettext("手续逾期：%(kind)s %(num)s 天", "手续逾期：%(kind)s %(num)s 天",
                                     overdue, kind=permit.kind_label))
            if overdue > red_days:
                colour = "red"
            elif colour == "blue":
                colour = "yellow"
    if lead.next_follow_up is not None and lead.next_follow_up < as_of:
        reasons.append(str(_l("下次跟进日期（%(d)s）已过", d=lead.next_follow_up.isoformat())))
        colour = "yellow" if colour == "blue" else colour
    last = lead.last_visit_on or lead.created_on
    idle = (as_of - last).days
    if idle > idle_days:
        if lead.last_visit_on is None:
            reasons.append(ngettext("录入后 %(num)s 天未走访", "录入后 %(num)s 天未走访", idle))
        else:
            reasons.append(ngettext("已 %(num)s 天未走访", "已 %(num)s 天未走访", idle))
        colour = "yellow" if colour == "blue" else colour
    return colour, reasons


def milestone_date_expr():
    return sa.case(
        *[(Lead.stage == stage, getattr(Lead, field)) for stage, field in NEXT_MILESTONE.items()],
        else_=sa.null(),
    )


def oldest_overdue_permit_expr(as_of: dt.date):
    """The earliest due date of the lead's permit items not done by ``as_of`` (NULL: none)."""
    return (
        sa.select(sa.func.min(Permit.due_on))
        .where(Permit.lead_id == Lead.id,
               sa.or_(Permit.done_on.is_(None), Permit.done_on > as_of))
        .correlate(Lead)
        .scalar_subquery()
    )


def colour_expr(as_of: dt.date):
    """SQL CASE giving 'red' / 'yellow' / 'blue' / NULL for each lead as of ``as_of``."""
    red_days, idle_days = _limits()
    milestone = milestone_date_expr()
    permit_due = oldest_overdue_permit_expr(as_of)
    red_before = as_of - dt.timedelta(days=red_days)
    idle_before = as_of - dt.timedelta(days=idle_days)
    return sa.case(
        (Lead.stage.in_(CLOSED_STAGES), sa.null()),
        (sa.or_(milestone < red_before, permit_due < red_before), "red"),
        (
            sa.or_(
                milestone < as_of,
                permit_due < as_of,
                Lead.next_follow_up < as_of,
                sa.func.coalesce(Lead.last_visit_on, Lead.created_on) < idle_before,
            ),
            "yellow",
        ),
        else_="blue",
    )


#: Leads per query of ``load_permits`` (PostgreSQL takes at most 65,535 parameters).
PERMITS_GROUP = 10_000


def load_permits(leads) -> None:
    """Load the permit items of ``leads`` in one query (for ``lead_colour`` over a list)."""
    leads = [getattr(lead, "lead", lead) for lead in leads]
    if not leads:
        return
    by_lead: dict[int, list] = {lead.id: [] for lead in leads}
    # a province's bulletin has 70,000 leads: more than PostgreSQL's 65,535 parameters at once
    for group in in_groups(by_lead, PERMITS_GROUP):
        for permit in db.session.scalars(
                sa.select(Permit).where(Permit.lead_id.in_(group))
                .order_by(Permit.due_on, Permit.id)):
            by_lead[permit.lead_id].append(permit)
    for lead in leads:
        set_committed_value(lead, "permits", by_lead[lead.id])


@dataclass(frozen=True)
class ColouredLead:
    """A lead and its colour as of a day, as lists, the board and digests show it (the colour
    computed in SQL with the rows). Reads as the lead otherwise (``row.name``), so a page or an
    API schema takes it where it takes a lead; ``row.lead`` is the ORM row itself."""

    lead: Lead
    colour: str | None

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.lead, name)

