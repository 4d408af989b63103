"""Logging a visit from the lead page (and, for the offline queue, as JSON); editing one's own
visit the same day."""

import uuid

import sqlalchemy as sa
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from crm.auth.permissions import get_lead_or_404, require
from crm.auth.views import safe_next
from crm.errors import DomainError
from crm.extensions import db
from crm.main.forms import REFUSED, attempt
from crm.unit_of_work import discard
from crm.visits import services
from crm.visits.forms import NewVisitForm, VisitForm
from crm.visits.models import Visit

blueprint = Blueprint("visits", __name__)


def _form_data(form) -> dict:
    data = {f: getattr(form, f).data for f in services.VISIT_FIELDS}
    data["client_id"] = form.client_id.data
    return data


@blueprint.route("/leads/<int:lead_id>/visits", methods=["GET", "POST"])
@login_required
def log(lead_id):
    lead = get_lead_or_404(lead_id, current_user, "visit.log")
    form = NewVisitForm()
    if form.validate_on_submit():
        try:
            result = attempt(form, lambda: services.record_visit(current_user, lead, _form_data(form)),
                             raising=(services.ClientIdTaken,))
        except services.ClientIdTaken as exc:
            discard()
            form.client_id.errors = [str(exc.message)]  # said below, with a fresh id
            result = REFUSED
        if result is not REFUSED:
            flash(_("走访已记录") if result[1] else _("这条走访已记录过，未重复保存"), "success")
            return redirect(safe_next(request.form.get("back")) if request.form.get("back")
                            else url_for("leads.show", lead_id=lead.id))
    if request.method == "GET" or form.client_id.errors:
        if request.method == "GET":
            from crm.clock import today

            form.visited_on.data = today()
        for message in form.client_id.errors:  # a hidden field: its error as a flash
            flash(message, "error")
        # A fresh id for each form shown: sent twice, the same form logs one visit.
        form.client_id.data = str(uuid.uuid4())
        form.client_id.errors = []
    status = 422 if request.method == "POST" else 200
    return render_template("visits/form.html", form=form, lead=lead, visit=None), status


def _json_error(status: int, code: str, message, fields: dict | None = None):
    fields = {k: [str(m) for m in v] for k, v in (fields or {}).items()}
    return jsonify(error={"code": code, "message": str(message), "fields": fields}), status


@blueprint.route("/leads/<int:lead_id>/visits/sync", methods=["POST"])
def sync(lead_id):
    """The offline queue's way in (crm/static/js/offline.js): the signed-in session and the
    CSRF token in the ``X-CSRFToken`` header (checked by CSRFProtect before this runs), a JSON
    body of the form's fields and a ``client_id``; the same service and the same client_id rule
    as the form and ``POST /api/v1/leads/{id}/visits``. Answers JSON: 201 logged, 200 logged
    before with this client_id, 401 signed out, 404, 403, 409 client_id taken, 422 invalid."""
    if not current_user.is_authenticated:
        return _json_error(401, "unauthorized", _("登录已失效，请重新登录后再同步"))
    if not request.is_json or not isinstance(request.get_json(silent=True), dict):
        return _json_error(400, "bad_request", _("请求有误，请检查后重试。"))
    try:
        lead = get_lead_or_404(lead_id, current_user, "visit.log")
    except HTTPException as exc:
        if exc.code == 404:
            return _json_error(404, "not_found", _("项目不存在，或您无权查看。"))
        return _json_error(403, "forbidden", _("您无权为该项目登记走访"))
    # The form's own checks, on the JSON's values as text (a number or null is no field's type).
    body = request.get_json()
    fields = MultiDict({name: value for name, value in body.items()
                        if isinstance(value, str) and name in (*services.VISIT_FIELDS, "client_id")})
    form = NewVisitForm(formdata=fields, meta={"csrf": False})  # CSRFProtect checked the header
    if not form.validate():
        return _json_error(422, "unprocessable", _("提交的内容有误"), form.errors)
    if not form.client_id.data:
        return _json_error(422, "unprocessable", _("提交的内容有误"),
                           {"client_id": [_("必填")]})
    try:
        visit, created = services.record_visit(current_user, lead, _form_data(form))
    except DomainError as exc:
        discard()
        return _json_error(exc.status, exc.code, exc.message, exc.fields)
    body = {"id": visit.id, "lead_id": visit.lead_id, "client_id": visit.client_id,
            "visited_on": visit.visited_on.isoformat(), "kind": visit.kind, "created": created}
    return jsonify(body), 201 if created else 200


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
