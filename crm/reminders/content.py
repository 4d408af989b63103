"""What each reminder says, and to whom (daily follow-ups, weekly digests). No content, no mail."""

import copy
import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload

from crm.auth.models import DISTRICT_ADMIN, OFFICER, REVIEWER, TOWNSHIP_HEAD, UNIT_ROLES, User
from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.leads.colour import ColouredLead, colour_expr
from crm.leads.models import Lead, LeadOfficer, StageChange
from crm.stats.queries import district_stats
from crm.stats.results import DistrictStats, pending_summary, rank_units
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
    #: The same context for several users (only the greeting and unsubscribe link differ):
    #: the mail renders it once (``mail.Renderer``).
    shared: bool = False


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
    admins: every unit, ranked.

    Composed in one pass for every recipient: each kind of data (the officers' leads, helpers
    and visits; the heads' units, moves, red leads and idle officers; the live supervision
    orders; the district's statistics) is read by one grouped query for all recipients and
    shared out here, so the run's query count does not grow with the number of recipients.
    The admins' mails share one context (``Digest.shared``): the mail renders it once.
    """
    period = weekly_period(as_of)
    monday, sunday, last_monday, last_sunday = week_bounds(as_of)
    users = db.session.scalars(_recipients(User.reminder_weekly).order_by(User.id)).all()
    officers = [u for u in users if u.role == OFFICER]
    heads = [u for u in users if u.role == TOWNSHIP_HEAD]
    admins = [u for u in users if u.role == DISTRICT_ADMIN]
    if not (officers or heads or admins):
        return []
    officer_weeks = _officer_weeks(officers, as_of, sunday, last_monday, last_sunday)
    head_weeks = _head_weeks(heads, as_of, last_monday, last_sunday, whole=bool(admins))
    orders = _live_orders(officers or heads or admins)
    admin_context = None
    if admins:
        district = head_weeks.district
        if district.units:
            admin_context = {"stats": district,
                             "pending": {u.township_id: head_weeks.pending(u)
                                         for u in district.units},
                             "orders": orders.everywhere()}
            admin_context.update(as_of=as_of, period=period, last_monday=last_monday,
                                 last_sunday=last_sunday, lead_url=lead_url)
    digests = []
    for user in users:
        if user.role == OFFICER:
            context = officer_weeks.get(user.id)
            template = "weekly_officer"
            mine = orders.carried_by(user)
            if context is None and mine:
                # an officer with nothing else this week still hears of the orders on their leads
                context = {"overdue": [], "this_week": [], "flagged": [], "visits": []}
        elif user.role == TOWNSHIP_HEAD:
            context = head_weeks.context(user)
            template = "weekly_head"
            mine = orders.in_unit(user.township_id)
        elif user.role == DISTRICT_ADMIN:
            if admin_context is not None:
                digests.append(Digest(user, "weekly", period, "weekly_admin", admin_context,
                                      shared=True))
            continue
        else:
            continue
        if context:
            context.update(orders=mine)
            context.update(as_of=as_of, period=period, last_monday=last_monday,
                           last_sunday=last_sunday, lead_url=lead_url)
            digests.append(Digest(user, "weekly", period, template, context))
    return digests


def _everyone() -> User:
    """A district admin never saved: sees every unit and lead (``scope_leads``), as ``warm``."""
    return User(role=DISTRICT_ADMIN, active=True)


class _Orders:
    """The live supervision orders (not yet closed), read once, shared out as ``list_orders``
    would give them to each recipient: an officer's on the leads they carry, a head's in their
    unit (the lead's), an admin's everywhere; each list in ``list_orders``'s order."""

    def __init__(self, orders):
        self.all = orders
        self.by_unit: dict[int, list] = {}
        for order in orders:
            self.by_unit.setdefault(order.lead.township_id, []).append(order)

    def everywhere(self):
        return list(self.all)

    def in_unit(self, township_id):
        return list(self.by_unit.get(township_id, ()))

    def carried_by(self, user):
        return [o for o in self.by_unit.get(user.township_id, ()) if user.id in o.lead.officer_ids]


def _live_orders(anyone) -> _Orders:
    if not anyone:
        return _Orders([])
    return _Orders(list_orders(_everyone(), status="live"))


def _with_colour(stmt, as_of):
    colour = colour_expr(as_of).label("colour")
    rows = db.session.execute(stmt.add_columns(colour)).unique().all()
    return [ColouredLead(lead, lead_colour) for lead, lead_colour in rows]


def _officer_weeks(officers, as_of, sunday, last_monday, last_sunday) -> dict[int, dict]:
    """Each officer's week (``editable_leads``: the leads of their unit they are the primary
    officer or a helper of), by user id; officers with nothing this week left out."""
    if not officers:
        return {}
    ids = [u.id for u in officers]
    helping = db.session.execute(
        sa.select(LeadOfficer.lead_id, LeadOfficer.user_id).where(LeadOfficer.user_id.in_(ids))
    ).all()
    helpers: dict[int, set[int]] = {}
    for lead_id, user_id in helping:
        helpers.setdefault(lead_id, set()).add(user_id)
    carried = (
        scope_leads(sa.select(Lead), _everyone())
        .where(Lead.in_progress,
               Lead.township_id.in_({u.township_id for u in officers if u.township_id}),
               sa.or_(Lead.primary_officer_id.in_(ids),
                      Lead.id.in_(sa.select(LeadOfficer.lead_id)
                                  .where(LeadOfficer.user_id.in_(ids)))))
        .order_by(Lead.next_follow_up, Lead.id)
    )
    leads_of: dict[int, list] = {}
    for lead in _with_colour(carried, as_of):
        for user_id in {lead.primary_officer_id} | helpers.get(lead.id, set()):
            leads_of.setdefault(user_id, []).append(lead)
    visits_of: dict[int, list] = {}
    for visit in db.session.scalars(
        sa.select(Visit).where(Visit.user_id.in_(ids),
                               Visit.visited_on.between(last_monday, last_sunday))
        .options(joinedload(Visit.lead)).order_by(Visit.visited_on, Visit.id)
    ):
        visits_of.setdefault(visit.user_id, []).append(visit)
    weeks = {}
    for user in officers:
        if user.township_id is None:
            leads = []
        else:
            leads = [lead for lead in leads_of.get(user.id, ())
                     if lead.township_id == user.township_id]
        overdue = [lead for lead in leads if lead.next_follow_up and lead.next_follow_up < as_of]
        this_week = [lead for lead in leads
                     if lead.next_follow_up and as_of <= lead.next_follow_up <= sunday]
        flagged = [lead for lead in leads if lead.colour in ("red", "yellow")]
        visits = visits_of.get(user.id, [])
        if overdue or this_week or flagged or visits:
            weeks[user.id] = {"overdue": overdue, "this_week": this_week, "flagged": flagged,
                              "visits": visits}
    return weeks


class _HeadWeeks:
    """The heads' weeks: the district's statistics (every unit when ``whole``, for the admins'
    ranking; else the heads' units), and each unit's stage moves last week, red leads and
    officers without a visit last week, each read once for all the heads' units."""

    def __init__(self, heads, as_of, last_monday, last_sunday, whole: bool):
        self.as_of = as_of
        units = sorted({h.township_id for h in heads if h.township_id is not None})
        self._pending: dict[int, str] = {}
        if not (whole or units):
            self.district, self.moves, self.red, self.idle = None, {}, {}, {}
            return
        self.district = district_stats(_everyone(), as_of.year, as_of,
                                       township_ids=None if whole else units)
        self.moves, self.red, self.idle = {}, {}, {}
        if not units:
            return
        everyone = _everyone()
        for move in db.session.scalars(
            scope_leads(sa.select(StageChange).join(Lead, Lead.id == StageChange.lead_id),
                        everyone)
            .where(Lead.township_id.in_(units), StageChange.implied.is_(False),
                   StageChange.from_stage.is_not(None),
                   StageChange.effective_on.between(last_monday, last_sunday))
            .options(joinedload(StageChange.lead), joinedload(StageChange.user))
            .order_by(StageChange.effective_on, StageChange.id)
        ):
            self.moves.setdefault(move.lead.township_id, []).append(move)
        colour = colour_expr(as_of)
        for lead in _with_colour(
            scope_leads(sa.select(Lead), everyone)
            .where(Lead.township_id.in_(units), Lead.in_progress, colour == "red")
            .options(joinedload(Lead.primary_officer)).order_by(Lead.id), as_of
        ):
            self.red.setdefault(lead.township_id, []).append(lead)
        visited = sa.exists().where(Visit.user_id == User.id,
                                    Visit.township_id == User.township_id,
                                    Visit.visited_on.between(last_monday, last_sunday))
        for officer in db.session.scalars(
            sa.select(User).where(User.township_id.in_(units), User.active,
                                  User.role == OFFICER, ~visited)
            .order_by(User.display_name)
        ):
            self.idle.setdefault(officer.township_id, []).append(officer)

    def pending(self, unit) -> str:
        if unit.township_id not in self._pending:
            self._pending[unit.township_id] = pending_summary(unit)
        return self._pending[unit.township_id]

    def context(self, head):
        """What ``weekly_head`` shows ``head`` (their unit alone, as ``district_stats`` gives it
        to them), or None when their unit has nothing to say."""
        unit = self.district.unit(head.township_id) if self.district else None
        if unit is None:
            return None
        moves = self.moves.get(head.township_id, [])
        if not (sum(unit.snapshot.values()) or unit.targets or moves):
            return None
        unit = copy.copy(unit)  # ranked alone, as the head's own statistics rank it
        stats = DistrictStats(self.district.year, self.as_of, self.district.time_progress,
                              rank_units([unit]))
        return {"stats": stats, "unit": unit, "moves": list(moves),
                "red": list(self.red.get(head.township_id, [])),
                "idle_officers": list(self.idle.get(head.township_id, [])),
                "pending": self.pending(unit)}


def _head_weeks(heads, as_of, last_monday, last_sunday, whole: bool) -> _HeadWeeks:
    return _HeadWeeks(heads, as_of, last_monday, last_sunday, whole)


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
