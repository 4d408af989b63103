"""What each reminder says, and to whom (daily follow-ups, weekly digests). No content, no mail."""

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload

from crm.auth.models import DISTRICT_ADMIN, OFFICER, REVIEWER, TOWNSHIP_HEAD, UNIT_ROLES, User
from crm.auth.permissions import editable_leads, scope_leads
from crm.extensions import db
from crm.leads.colour import ColouredLead, colour_expr
from crm.leads.models import Lead, StageChange
from crm.stats.queries import district_stats
from crm.stats.results import pending_summary
from crm.supervision.queries import list_orders
from crm.visits.models import Visit


@dataclass
class Digest:
    """One reminder for one person: ``template`` under templates/email/, and its context."""

    user: User
    kind: str  # daily | weekly
    period: str
    template: str
    context: dict = field(default_factory=dict)


def daily_period(as_of: dt.date) -> str:
    return as_of.isoformat()


def weekly_period(as_of: dt.date) -> str:
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(as_of: dt.date):
    """(this week's Monday, its Sunday, last week's Monday, last week's Sunday)."""
    monday = as_of - dt.timedelta(days=as_of.weekday())
    return monday, monday + dt.timedelta(days=6), monday - dt.timedelta(days=7), \
        monday - dt.timedelta(days=1)


def lead_url(lead_id: int) -> str:
    return f"{current_app.config['CRM_BASE_URL'].rstrip('/')}/leads/{lead_id}"


def _recipients(flag):
    return sa.select(User).where(User.active, flag.is_(True), User.email != "")


def daily_digests(as_of: dt.date) -> list[Digest]:
    """Officers (anyone assigned to a lead) with follow-ups due today or overdue."""
    due = db.session.scalars(
        sa.select(Lead)
        .where(Lead.in_progress, Lead.next_follow_up <= as_of, Lead.ownership != "merged")
        .options(selectinload(Lead.helpers), joinedload(Lead.township))
        .order_by(Lead.next_follow_up, Lead.id)
    ).unique().all()
    by_user: dict[int, list[Lead]] = {}
    for lead in due:
        for user_id in lead.officer_ids:
            by_user.setdefault(user_id, []).append(lead)
    if not by_user:
        return []
    users = db.session.scalars(_recipients(User.reminder_daily).where(
        User.id.in_(list(by_user)), User.role.in_(UNIT_ROLES))).all()
    period = daily_period(as_of)
    digests = []
    for user in sorted(users, key=lambda u: u.id):
        leads = [lead for lead in by_user[user.id] if lead.township_id == user.township_id]
        if leads:
            digests.append(Digest(user, "daily", period, "daily", {
                "as_of": as_of, "overdue": [lead for lead in leads if lead.next_follow_up < as_of],
                "today": [lead for lead in leads if lead.next_follow_up == as_of],
                "lead_url": lead_url,
            }))
    return digests


def weekly_digests(as_of: dt.date) -> list[Digest]:
    """Officers: their follow-ups, red/yellow leads and last week's visits; heads: their unit;
    admins: every unit, ranked."""
    period = weekly_period(as_of)
    monday, sunday, last_monday, last_sunday = week_bounds(as_of)
    users = db.session.scalars(_recipients(User.reminder_weekly).order_by(User.id)).all()
    district = None
    digests = []
    for user in users:
        if user.role == OFFICER:
            context = _officer_week(user, as_of, sunday, last_monday, last_sunday)
            template = "weekly_officer"
        elif user.role == TOWNSHIP_HEAD:
            context = _head_week(user, as_of, last_monday, last_sunday)
            template = "weekly_head"
        elif user.role == DISTRICT_ADMIN:
            district = district or district_stats(user, as_of.year, as_of)
            context = {"stats": district,
                       "pending": {u.township_id: pending_summary(u) for u in district.units},
                       } if district.units else None
            template = "weekly_admin"
        else:
            continue
        orders = _open_orders(user)
        if context is None and orders and user.role == OFFICER:
            # an officer with nothing else this week still hears of the orders on their leads
            context = {"overdue": [], "this_week": [], "flagged": [], "visits": []}
        if context:
            context.update(orders=orders)
            context.update(as_of=as_of, period=period, last_monday=last_monday,
                           last_sunday=last_sunday, lead_url=lead_url)
            digests.append(Digest(user, "weekly", period, template, context))
    return digests


def _open_orders(user):
    """Supervision orders not yet closed that concern ``user``: an officer's on the leads they
    carry, a head's in their unit, an admin's everywhere."""
    if user.role == OFFICER:
        return [o for o in list_orders(user, status="live") if user.id in o.lead.officer_ids]
    return list_orders(user, status="live")


def _with_colour(stmt, as_of):
    colour = colour_expr(as_of).label("colour")
    rows = db.session.execute(stmt.add_columns(colour)).unique().all()
    return [ColouredLead(lead, lead_colour) for lead, lead_colour in rows]


def _officer_week(user, as_of, sunday, last_monday, last_sunday):
    mine = editable_leads(user).where(Lead.in_progress).order_by(Lead.next_follow_up,
                                                                        Lead.id)
    leads = _with_colour(mine, as_of)
    overdue = [lead for lead in leads if lead.next_follow_up and lead.next_follow_up < as_of]
    this_week = [lead for lead in leads
                 if lead.next_follow_up and as_of <= lead.next_follow_up <= sunday]
    flagged = [lead for lead in leads if lead.colour in ("red", "yellow")]
    visits = db.session.scalars(
        sa.select(Visit).where(Visit.user_id == user.id,
                               Visit.visited_on.between(last_monday, last_sunday))
        .options(joinedload(Visit.lead)).order_by(Visit.visited_on, Visit.id)
    ).all()
    if not (overdue or this_week or flagged or visits):
        return None
    return {"overdue": overdue, "this_week": this_week, "flagged": flagged, "visits": visits}


def _head_week(user, as_of, last_monday, last_sunday):
    stats = district_stats(user, as_of.year, as_of)
    unit = stats.unit(user.township_id)
    if unit is None:
        return None
    moves = db.session.scalars(
        scope_leads(sa.select(StageChange).join(Lead, Lead.id == StageChange.lead_id), user)
        .where(StageChange.implied.is_(False), StageChange.from_stage.is_not(None),
               StageChange.effective_on.between(last_monday, last_sunday))
        .options(joinedload(StageChange.lead), joinedload(StageChange.user))
        .order_by(StageChange.effective_on, StageChange.id)
    ).all()
    red = [lead for lead in _with_colour(
        scope_leads(sa.select(Lead), user).where(Lead.in_progress)
        .options(joinedload(Lead.primary_officer)).order_by(Lead.id), as_of)
        if lead.colour == "red"]
    visited = sa.select(Visit.user_id).where(Visit.township_id == user.township_id,
                                             Visit.visited_on.between(last_monday, last_sunday))
    idle = db.session.scalars(
        sa.select(User).where(User.township_id == user.township_id, User.active,
                              User.role == OFFICER, User.id.not_in(visited))
        .order_by(User.display_name)
    ).all()
    if not (sum(unit.snapshot.values()) or unit.targets or moves):
        return None
    return {"stats": stats, "unit": unit, "moves": moves, "red": red, "idle_officers": idle,
            "pending": pending_summary(unit)}


__all__ = ["Digest", "daily_digests", "weekly_digests"]


def review_digests(as_of: dt.date) -> list[Digest]:
    """Reviewers: the claims pending more than 5 workdays (a milestone counts once its claim is verified)."""
    from crm.claims.queries import overdue_pending

    claims = overdue_pending(as_of)
    if not claims:
        return []
    users = db.session.scalars(_recipients(User.reminder_daily).where(
        User.role == REVIEWER).order_by(User.id)).all()
    base = current_app.config["CRM_BASE_URL"].rstrip("/")
    return [Digest(user, "review", daily_period(as_of), "review", {
        "as_of": as_of, "claims": claims,
        "claim_url": lambda claim_id: f"{base}/claims/{claim_id}"}) for user in users]
