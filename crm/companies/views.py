"""Company pages (list and search, one company's projects across the district, the lead form's
type-ahead) and the 撞单 queue with its rulings."""

import sqlalchemy as sa
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from crm import inputs
from crm.auth.permissions import require
from crm.claims.models import Attachment
from crm.companies import mail, queries, services
from crm.companies.forms import RulingForm
from crm.extensions import db
from crm.leads.models import Lead, StageChange
from crm.main.forms import REFUSED, attempt
from crm.paging import keep_in_range
from crm.unit_of_work import commit_now
from crm.visits.models import Visit

blueprint = Blueprint("companies", __name__)

PER_PAGE = 50
SUGGEST_LIMIT = 10


@blueprint.route("/companies/")
@login_required
def index():
    require(current_user, "company.view")
    q = inputs.clean_text(request.args.get("q") or "").strip()[:100]
    page = queries.search_companies(current_user, q, inputs.page_arg(request.args),
                                    PER_PAGE)
    keep_in_range(page)
    return render_template("companies/index.html", result=page, q=q)


@blueprint.route("/companies/suggest")
@login_required
def suggest():
    """The lead form's type-ahead: a few companies matching ``q`` (JSON, session auth)."""
    require(current_user, "company.view")
    q = inputs.clean_text(request.args.get("q") or "").strip()[:100]
    if not q:
        return jsonify({"items": []})
    page = queries.search_companies(current_user, q, 1, SUGGEST_LIMIT)
    return jsonify({"items": [{"id": c.id, "name": c.name, "credit_code": c.credit_code,
                               "origin": c.origin} for c, _n in page.items]})


@blueprint.route("/companies/<int:company_id>")
@login_required
def show(company_id):
    require(current_user, "company.view")
    company = queries.get_company_or_404(company_id)
    leads, others = queries.company_projects(current_user, company)
    return render_template("companies/show.html", company=company, leads=leads, others=others)


# --- disputes ------------------------------------------------------------------------------------

@blueprint.route("/disputes/")
@login_required
def disputes():
    require(current_user, "dispute.review")
    status = request.args.get("status") if request.args.get("status") in ("open", "ruled") \
        else "open"
    disputes = queries.dispute_page(status, inputs.page_arg(request.args), PER_PAGE)
    keep_in_range(disputes)
    return render_template("disputes/index.html", disputes=disputes, status=status)


def _side(lead: Lead) -> dict:
    """What the reviewer compares of one lead: its stage history, visits and evidence."""
    return {
        "lead": lead,
        "changes": db.session.scalars(
            sa.select(StageChange).where(StageChange.lead_id == lead.id)
            .order_by(StageChange.effective_on, StageChange.id)).all(),
        "visits": db.session.scalars(
            sa.select(Visit).where(Visit.lead_id == lead.id).options(joinedload(Visit.user))
            .order_by(Visit.visited_on.desc(), Visit.id.desc())).all(),
        "attachments": db.session.scalars(
            sa.select(Attachment).where(Attachment.lead_id == lead.id)
            .order_by(Attachment.id)).all(),
    }


@blueprint.route("/disputes/<int:dispute_id>", methods=["GET", "POST"])
@login_required
def dispute(dispute_id):
    require(current_user, "dispute.review")
    item = queries.get_dispute_or_404(dispute_id)
    form = RulingForm()
    if request.method == "POST":
        if item.status != "open":
            flash(_("该撞单已裁定"), "error")
            return redirect(url_for("companies.dispute", dispute_id=item.id))
        if form.validate_on_submit():
            ruled = attempt(None, lambda: services.rule(current_user, item, form.decision.data,
                                                        form.note.data or ""))
            if ruled is not REFUSED:
                commit_now()
                mail.send_now(item)
                flash(_("已裁定"), "success")
                return redirect(url_for("companies.dispute", dispute_id=item.id))
    return render_template("disputes/show.html", dispute=item, form=form,
                           first=_side(item.first_lead), second=_side(item.second_lead))
