"""Logging a visit from the lead page; editing one's own visit the same day."""

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.auth.permissions import get_lead_or_404, require
from crm.auth.views import safe_next
from crm.extensions import db
from crm.main.forms import REFUSED, attempt
from crm.visits import services
from crm.visits.forms import VisitForm
from crm.visits.models import Visit

blueprint = Blueprint("visits", __name__)


@blueprint.route("/leads/<int:lead_id>/visits", methods=["GET", "POST"])
@login_required
def log(lead_id):
    lead = get_lead_or_404(lead_id, current_user, "visit.log")
    form = VisitForm()
    if form.validate_on_submit():
        data = {f: getattr(form, f).data for f in services.VISIT_FIELDS}
        if attempt(form, lambda: services.log_visit(current_user, lead, data),
                   _("走访已记录")) is not REFUSED:
            return redirect(safe_next(request.form.get("back")) if request.form.get("back")
                            else url_for("leads.show", lead_id=lead.id))
    if request.method == "GET":
        from crm.clock import today

        form.visited_on.data = today()
    status = 422 if request.method == "POST" else 200
    return render_template("visits/form.html", form=form, lead=lead, visit=None), status


@blueprint.route("/leads/<int:lead_id>/visits/<int:visit_id>/edit", methods=["GET", "POST"])
@login_required
def edit(lead_id, visit_id):
    lead = get_lead_or_404(lead_id, current_user)
    visit = db.session.scalar(sa.select(Visit).where(Visit.id == visit_id, Visit.lead_id == lead.id))
    if visit is None:
        abort(404)
    require(current_user, "visit.edit", visit)
    form = VisitForm(obj=visit)
    form.kept_follow_up = visit.next_follow_up
    if form.validate_on_submit():
        data = {f: getattr(form, f).data for f in services.VISIT_FIELDS}
        if attempt(form, lambda: services.edit_visit(current_user, visit, data),
                   _("走访已修改")) is not REFUSED:
            return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("visits/form.html", form=form, lead=lead, visit=visit)
