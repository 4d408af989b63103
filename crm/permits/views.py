"""Permit pages: add, edit and mark done an item of a lead's checklist (from the lead page);
the overdue items by responsible unit."""

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import get_lead_or_404, require, visible_townships
from crm.clock import today
from crm.extensions import db
from crm.main.forms import REFUSED, attempt, flash_form_errors
from crm.permits import queries, services
from crm.permits.forms import DoneForm, PermitForm
from crm.permits.models import PERMIT_KIND_LABELS, Permit

blueprint = Blueprint("permits", __name__)


def permit_or_404(permit_id: int) -> Permit:
    """The item, if its lead is one the user may see; else 404."""
    permit = db.session.get(Permit, permit_id)
    if permit is None:
        abort(404)
    get_lead_or_404(permit.lead_id, current_user)
    return permit


def _back(lead_id: int):
    return redirect(url_for("leads.show", lead_id=lead_id) + "#permits")


@blueprint.route("/leads/<int:lead_id>/permits", methods=["POST"])
@login_required
def add(lead_id):
    lead, form = get_lead_or_404(lead_id, current_user, "permit.edit"), PermitForm()
    if form.validate_on_submit():
        attempt(None, lambda: services.add_permit(current_user, lead, form.data_for_service()),
                _("手续已添加"))
    else:
        flash_form_errors(form)
    return _back(lead.id)


@blueprint.route("/permits/<int:permit_id>/edit", methods=["GET", "POST"])
@login_required
def edit(permit_id):
    permit = permit_or_404(permit_id)
    require(current_user, "permit.edit", permit.lead)
    form = PermitForm(obj=permit)
    if form.validate_on_submit() and attempt(form, lambda: services.update_permit(
            current_user, permit, form.data_for_service()), _("已保存")) is not REFUSED:
        return _back(permit.lead_id)
    status = 422 if request.method == "POST" else 200
    return render_template("permits/edit.html", form=form, permit=permit,
                           lead=permit.lead), status


@blueprint.route("/permits/<int:permit_id>/done", methods=["POST"])
@login_required
def done(permit_id):
    permit = permit_or_404(permit_id)
    require(current_user, "permit.edit", permit.lead)
    form = DoneForm()
    if form.validate_on_submit():
        attempt(None, lambda: services.mark_done(current_user, permit, form.done_on.data),
                _("已标记为办结"))
    else:
        flash_form_errors(form)
    return _back(permit.lead_id)


@blueprint.route("/permits/overdue")
@login_required
def overdue():
    require(current_user, "permits.overdue")
    as_of = today()
    townships = db.session.scalars(visible_townships(current_user)).all()
    township_id = inputs.int_arg(request.args, "township_id")
    if township_id not in {t.id for t in townships}:
        township_id = None
    groups = queries.overdue_permits(current_user, as_of, township_id)
    total = sum(len(g.items) for g in groups)
    return render_template("permits/overdue.html", groups=groups, total=total, as_of=as_of,
                           townships=townships if len(townships) > 1 else [],
                           township_id=township_id, KIND_LABELS=PERMIT_KIND_LABELS,
                           red_days=_red_days())


def _red_days() -> int:
    return current_app.config["CRM_RED_OVERDUE_DAYS"]
