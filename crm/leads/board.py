"""The pipeline board (看板) and the "My work" page."""

import datetime as dt

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from crm import inputs
from crm.auth.models import User
from crm.auth.permissions import can, editable_leads, require, scope_leads, visible_townships
from crm.clock import today
from crm.extensions import db
from crm.leads.colour import ColouredLead, colour_expr
from crm.leads.forms import MoveForm
from crm.leads.models import Lead
from crm.leads.pipeline import STAGES
from crm.leads.queries import IN_PROGRESS, LeadFilter, list_leads
from crm.leads.services import allowed_moves

blueprint = Blueprint("board", __name__)
COLUMN_SIZE = 20


def _board_unit():
    """The unit shown: officers and heads see their own; admins and viewers pick one or all."""
    townships = db.session.scalars(visible_townships(current_user)).all()
    if not can(current_user, "district.view"):
        return current_user.township_id, townships
    chosen = inputs.int_arg(request.args, "township_id")
    if chosen and chosen not in {t.id for t in townships}:
        abort(404)
    return chosen, townships


@blueprint.route("/board")
@login_required
def board():
    township_id, townships = _board_unit()
    as_of = today()
    base = scope_leads(sa.select(Lead), current_user)
    if township_id:
        base = base.where(Lead.township_id == township_id)
    totals = {
        stage: (n, invest)
        for stage, n, invest in db.session.execute(
            base.with_only_columns(
                Lead.stage, sa.func.count(Lead.id),
                sa.func.coalesce(sa.func.sum(Lead.investment_wan), 0),
            ).group_by(Lead.stage)
        )
    }
    limits = {s: COLUMN_SIZE for s in STAGES}
    more = request.args.get("more")
    if more in limits:
        limits[more] = inputs.int_arg(request.args, "limit", maximum=1000) or COLUMN_SIZE * 2
    # One query for every column's first cards: rank within each stage.
    colour = colour_expr(as_of).label("colour")
    position = sa.func.row_number().over(
        partition_by=Lead.stage, order_by=(Lead.investment_wan.desc(), Lead.id)
    ).label("position")
    ranked = base.with_only_columns(Lead.id.label("lead_id"), position, colour).subquery()
    rows = db.session.execute(
        sa.select(Lead, ranked.c.colour, ranked.c.position)
        .join(ranked, ranked.c.lead_id == Lead.id)
        .where(ranked.c.position <= max(limits.values()))
        .options(joinedload(Lead.primary_officer), joinedload(Lead.township),
                 selectinload(Lead.helpers))
        .order_by(ranked.c.position)
    ).all()
    columns = {s: [] for s in STAGES}
    for lead, lead_colour, pos in rows:
        if pos <= limits[lead.stage]:
            columns[lead.stage].append(ColouredLead(lead, lead_colour))
    # Each card's allowed target stages (the drag dialog and the 移动到… menu offer only these).
    targets = {c.id: [m.to_stage for m in allowed_moves(current_user, c.lead)]
               for cards in columns.values() for c in cards}
    return render_template(
        "leads/board.html", columns=columns, totals=totals, townships=townships,
        township_id=township_id, limits=limits, move_form=MoveForm(on=as_of), targets=targets,
    )


@blueprint.route("/my")
@login_required
def my_work():
    """Follow-ups overdue, due today, due this week; my red and yellow leads."""
    as_of = today()
    week_end = as_of + dt.timedelta(days=6 - as_of.weekday())
    require(current_user, "work.view", status=404)
    scope = editable_leads(current_user)  # an officer's own leads; a head's whole unit
    active = scope.where(Lead.in_progress)
    colour = colour_expr(as_of).label("colour")

    def fetch(stmt, limit=100):
        rows = db.session.execute(
            stmt.add_columns(colour).options(joinedload(Lead.primary_officer))
            .order_by(Lead.next_follow_up, Lead.id).limit(limit)
        ).all()
        return [ColouredLead(lead, c) for lead, c in rows]

    sections = {
        "overdue": fetch(active.where(Lead.next_follow_up < as_of)),
        "today": fetch(active.where(Lead.next_follow_up == as_of)),
        "week": fetch(active.where(Lead.next_follow_up > as_of, Lead.next_follow_up <= week_end)),
    }
    flagged = list_leads(
        current_user,
        LeadFilter(officer_id=None if can(current_user, "work.unit") else current_user.id,
                   stage=IN_PROGRESS, sort="follow_up"),
        as_of, per_page=200,
    ).items
    flagged = [lead for lead in flagged if lead.colour in ("red", "yellow")]
    per_officer = []
    if can(current_user, "work.unit"):
        per_officer = _per_officer(current_user.township_id, as_of) + _unassigned(active, as_of)
    from crm.claims.queries import returned_for
    from crm.moveback import queries as move_back

    return render_template("leads/my_work.html", sections=sections, flagged=flagged,
                           per_officer=per_officer, week_end=week_end,
                           returned_claims=returned_for(current_user),
                           move_back_to_decide=move_back.to_decide(current_user),
                           move_back_asked=move_back.asked_by(current_user, limit=10))


def _per_officer(township_id, as_of):
    """For heads: each officer's overdue and due-today follow-ups, in one aggregate."""
    stmt = (
        sa.select(
            User,
            sa.func.sum(sa.case((Lead.next_follow_up < as_of, 1), else_=0)),
            sa.func.sum(sa.case((Lead.next_follow_up == as_of, 1), else_=0)),
            sa.func.count(Lead.id),
        )
        .outerjoin(Lead, sa.and_(Lead.primary_officer_id == User.id,
                                 Lead.in_progress))
        .where(User.township_id == township_id, User.active)
        .group_by(User.id)
        .order_by(User.display_name)
    )
    return [(u, overdue or 0, due or 0, n) for u, overdue, due, n in db.session.execute(stmt)]


def _unassigned(active: sa.Select, as_of) -> list:
    """The 未分配 row of 按人员: the leads in progress with no officer at work on them (none, or
    one no longer active), so the rows add up to the unit's; [] when there are none."""
    staff = sa.select(User.id).where(User.active)
    overdue, due, n = db.session.execute(
        active.where(sa.or_(Lead.primary_officer_id.is_(None),
                            Lead.primary_officer_id.not_in(staff)))
        .with_only_columns(sa.func.sum(sa.case((Lead.next_follow_up < as_of, 1), else_=0)),
                           sa.func.sum(sa.case((Lead.next_follow_up == as_of, 1), else_=0)),
                           sa.func.count(Lead.id))
        .order_by(None)).one()
    return [(None, overdue or 0, due or 0, n)] if n else []
