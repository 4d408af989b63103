"""督办 pages: the list with counts per unit and level, an order, answering, closing, issuing
by hand from the lead page, and each order as a Word document."""

import io

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import get_lead_or_404, require, unit_choices
from crm.claims import services as claim_services
from crm.downloads import send_download
from crm.errors import DomainError
from crm.main.forms import attempt
from crm.paging import keep_in_range
from crm.supervision import queries, services
from crm.supervision.document import order_docx
from crm.supervision.models import LEVEL_LABELS, LEVELS, STATUS_LABELS, STATUSES
from crm.unit_of_work import discard
from crm.word import DOCX_MIMETYPE

blueprint = Blueprint("supervision", __name__)
#: Orders per page of the list (a province issues thousands a year).
PER_PAGE = 50


@blueprint.context_processor
def helpers():
    return {"LEVELS": LEVELS, "LEVEL_LABELS": LEVEL_LABELS, "STATUSES": STATUSES,
            "STATUS_LABELS": STATUS_LABELS}


@blueprint.route("/supervision/")
@login_required
def index():
    require(current_user, "supervision.list")
    status = request.args.get("status") or "live"
    if status not in (*STATUSES, "live", "all"):
        status = "live"
    level = request.args.get("level") if request.args.get("level") in LEVELS else None
    township_id = inputs.int_arg(request.args, "township_id")
    orders = queries.order_page(current_user, inputs.page_arg(request.args),
                                PER_PAGE, status=None if status == "all" else status,
                                level=level, township_id=township_id)
    keep_in_range(orders)
    counts = queries.counts(current_user, None if status == "all" else status)
    return render_template(
        "supervision/index.html", orders=orders, counts=counts, status=status, level=level,
        township_id=township_id, townships=unit_choices(current_user))


@blueprint.route("/supervision/<int:order_id>")
@login_required
def show(order_id: int):
    order = queries.get_order_or_404(order_id, current_user)
    return render_template("supervision/show.html", order=order)


@blueprint.route("/supervision/<int:order_id>.docx")
@login_required
def docx(order_id: int):
    order = queries.get_order_or_404(order_id, current_user)
    return send_download(io.BytesIO(order_docx(order)), mimetype=DOCX_MIMETYPE,
                         name=_("督办单%(y)s-%(n)s.docx", y=order.year, n=order.number),
                         ascii_name=f"supervision-order-{order.year}-{order.number}.docx")


@blueprint.route("/supervision/<int:order_id>/answer", methods=["POST"])
@login_required
def answer(order_id: int):
    order = queries.get_order_or_404(order_id, current_user)
    require(current_user, "supervision.answer", order)
    def answer_with_file():
        files = []
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            files.append(claim_services.upload_attachment(
                current_user, order.lead, upload.read(), upload.filename, "other"))
        services.answer_order(current_user, order, request.form.get("text", ""), files)

    attempt(None, answer_with_file, _("已答复督办单 %(n)s", n=order.number_text))
    return redirect(url_for("supervision.show", order_id=order_id))


@blueprint.route("/supervision/<int:order_id>/close", methods=["POST"])
@login_required
def close(order_id: int):
    order = queries.get_order_or_404(order_id, current_user)
    require(current_user, "supervision.close", order)
    attempt(None, lambda: services.close_order(current_user, order, request.form.get("note", "")),
            _("督办单 %(n)s 已办结", n=order.number_text))
    return redirect(url_for("supervision.show", order_id=order_id))


@blueprint.route("/leads/<int:lead_id>/supervision", methods=["GET", "POST"])
@login_required
def issue(lead_id: int):
    lead = get_lead_or_404(lead_id, current_user)
    require(current_user, "supervision.issue", lead)
    errors, values = {}, {"level": "yellow", "reason": "", "due_on": ""}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in values}
        try:
            due_on = inputs.to_date(values["due_on"]) if values["due_on"].strip() else None
        except inputs.Invalid as exc:
            errors["due_on"] = [str(exc.message)]
        else:
            try:
                order = services.issue_order(current_user, lead, values["level"], values["reason"],
                                             due_on)
            except DomainError as exc:
                discard()
                errors = {k: [str(m) for m in v] for k, v in exc.fields.items()} or {
                    "reason": [str(exc.message)]}
            else:
                flash(_("已下发督办单 %(n)s", n=order.number_text), "success")
                return redirect(url_for("supervision.show", order_id=order.id))
    status = 422 if errors else 200
    return render_template("supervision/issue.html", lead=lead, values=values,
                           errors=errors), status
