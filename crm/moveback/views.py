"""申请退回's pages: the officer asks (from the move page or the lead page); the head or an
admin decides (from 我的工作 or the lead page). Plain forms; the mail goes after the commit."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from crm.auth.permissions import get_lead_or_404, require
from crm.auth.views import safe_next
from crm.clock import today
from crm.errors import Forbidden
from crm.leads.forms import MoveForm
from crm.leads.models import Lead
from crm.leads.services import allowed_moves
from crm.leads.views import move_page
from crm.main.forms import REFUSED, attempt, flash_form_errors
from crm.moveback import mail, queries, services
from crm.moveback.forms import DecideForm, RequestForm
from crm.unit_of_work import commit_now, discard

blueprint = Blueprint("moveback", __name__)


@blueprint.route("/leads/<int:lead_id>/move-back-request", methods=["POST"])
@login_required
def ask(lead_id):
    lead = get_lead_or_404(lead_id, current_user, options=[selectinload(Lead.stage_changes)])
    form = RequestForm()
    status = 422
    if form.validate_on_submit():
        try:
            made = attempt(form, lambda: services.request_move_back(
                current_user, lead, form.to_stage.data, form.reason.data, form.on.data),
                _("退回申请已提交，等待负责人审批"), raising=(Forbidden,))
        except Forbidden as exc:
            discard()
            lead = get_lead_or_404(lead_id, current_user)
            form.to_stage.errors = [*form.to_stage.errors, str(exc.message)]
            status = 403
        else:
            if made is not REFUSED:
                commit_now()
                mail.send_now(made)
                return redirect(url_for("leads.show", lead_id=lead.id) + "#move-back")
    move_form = MoveForm(formdata=None, on=today(), version=lead.version)
    return move_page(lead, move_form, allowed_moves(current_user, lead), status,
                     request_form=form)


@blueprint.route("/move-back/")
@login_required
def index():
    """The requests waiting for the user's decision (heads: their unit; admins: all)."""
    require(current_user, "move_back.list")
    return render_template("moveback/index.html", to_decide=queries.to_decide(current_user),
                           decided=queries.decided(current_user))


@blueprint.route("/move-back/<int:request_id>/decide", methods=["POST"])
@login_required
def decide(request_id):
    item = queries.get_request_or_404(request_id, current_user)
    require(current_user, "move_back.decide", item)
    lead_id = item.lead_id
    form = DecideForm()
    if form.validate_on_submit():
        done = attempt(None, lambda: services.decide(
            current_user, item, form.decision.data, form.note.data or ""))
        if done is not REFUSED:
            commit_now()
            mail.send_now(item)
            flash(_("已同意，项目已退回") if item.status == "approved" else _("已处理：未同意"),
                  "success")
    else:
        flash_form_errors(form)
    target = request.form.get("next")
    return redirect(safe_next(target) if target
                    else url_for("leads.show", lead_id=lead_id) + "#move-back")
