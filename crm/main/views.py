"""The home page: a different view of the pipeline for each role."""

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required

from crm.auth.permissions import can, editable_leads, scope_leads, visible_townships
from crm.clock import today
from crm.extensions import db
from crm.leads.colour import colour_expr
from crm.leads.models import Lead
from crm.leads.queries import IN_PROGRESS, LeadFilter, list_leads
from crm.main.dashboard import district_dashboard, unit_dashboard
from crm.stats.charts import percent

blueprint = Blueprint("main", __name__)


def pipeline_counts(user, as_of):
    """{township_id: {stage: n, "red": n, "yellow": n, "overdue": n, "invest": 万元}} in one
    aggregate (``overdue``: leads in progress whose next follow-up date has passed)."""
    colour = colour_expr(as_of)
    overdue = sa.and_(Lead.in_progress, Lead.next_follow_up < as_of)
    stmt = scope_leads(
        sa.select(
            Lead.township_id, Lead.stage, sa.func.count(Lead.id),
            sa.func.sum(sa.case((colour == "red", 1), else_=0)),
            sa.func.sum(sa.case((colour == "yellow", 1), else_=0)),
            sa.func.coalesce(sa.func.sum(Lead.investment_wan), 0),
            sa.func.sum(sa.case((overdue, 1), else_=0)),
        ).group_by(Lead.township_id, Lead.stage),
        user,
    )
    counts: dict = {}
    for township_id, stage, n, red, yellow, invest, late in db.session.execute(stmt):
        row = counts.setdefault(township_id, {"red": 0, "yellow": 0, "total": 0, "invest": 0,
                                              "overdue": 0})
        row[stage] = n
        row["red"] += red or 0
        row["yellow"] += yellow or 0
        row["total"] += n
        row["invest"] += invest or 0
        row["overdue"] += late or 0
    return counts


@blueprint.route("/")
@login_required
def home():
    as_of = today()
    townships = db.session.scalars(visible_townships(current_user)).all()
    counts = pipeline_counts(current_user, as_of)
    context = {"townships": townships, "counts": counts, "as_of": as_of, "pct": percent}
    if can(current_user, "lead.assigned_to_me"):
        mine = editable_leads(current_user).with_only_columns(Lead.id)
        due = db.session.execute(
            sa.select(
                sa.func.sum(sa.case((Lead.next_follow_up < as_of, 1), else_=0)),
                sa.func.sum(sa.case((Lead.next_follow_up == as_of, 1), else_=0)),
            ).where(Lead.id.in_(mine), Lead.in_progress)
        ).one()
        context["overdue"], context["due_today"] = (due[0] or 0, due[1] or 0)
        context["my_leads"] = list_leads(
            current_user, LeadFilter(officer_id=current_user.id, stage=IN_PROGRESS, sort="follow_up"),
            as_of, per_page=10,
        )
    elif can(current_user, "work.unit"):
        if current_user.township_id:
            context["dashboard"] = unit_dashboard(
                current_user, current_user.township_id,
                counts.get(current_user.township_id, {}), as_of)
        context["attention"] = list_leads(
            current_user, LeadFilter(stage=IN_PROGRESS, color="red", sort="investment"),
            as_of, per_page=10,
        )
    elif can(current_user, "district.view"):
        context["dashboard"] = district_dashboard(current_user, counts, as_of)
    return render_template("main/home.html", **context)


@blueprint.route("/healthz")
def healthz():
    """For load balancers and monitors: 200 when the database answers, else 503 (never a 500)."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001  (any failure to reach the database means "unavailable")
        current_app.logger.warning("healthz: database unavailable: %s", type(exc).__name__)
        response = jsonify(status="unavailable")
        response.status_code = 503
        response.headers["Cache-Control"] = "no-store"
        return response
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"))
