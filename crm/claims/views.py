"""Claim pages: the 待核验 queue, a claim with its evidence side by side, review, resubmission,
and evidence files (upload on the lead page, download, inline preview)."""

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import get_lead_or_404, require, unit_choices
from crm.claims import queries, services
from crm.claims.forms import ResubmitForm, ReviewForm, UploadForm
from crm.claims.models import (
    ATTACHMENT_KIND_LABELS,
    CLAIM_KIND_LABELS,
    CLAIM_KINDS,
    REQUIRED_EVIDENCE,
    Attachment,
)
from crm.clock import today
from crm.main.forms import REFUSED, attempt
from crm.paging import keep_in_range
from crm.storage import get_storage

blueprint = Blueprint("claims", __name__)

#: What a framed preview may do: show itself, nothing else (no script, no form, no plugin).
PREVIEW_CSP = ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
               "frame-ancestors 'self'; sandbox")
#: Queue filter by waiting time, in workdays.
AGES = (3, 5, 10)


def file_response(attachment: Attachment, *, inline: bool, thumbnail: bool = False):
    """The stored bytes: a download (``Content-Disposition: attachment``) unless ``inline``,
    always ``nosniff``; only our checked types (PDF and images) are ever shown inline."""
    key = attachment.thumbnail_key if thumbnail and attachment.thumbnail_key else \
        attachment.storage_key
    try:
        data = get_storage().get(key)
    except (FileNotFoundError, ValueError):
        abort(404)
    mimetype = "image/jpeg" if key == attachment.thumbnail_key else attachment.content_type
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=not inline,
                         download_name=attachment.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    if inline:
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _uploaded(form):
    """The file sent from either input (the camera's or the file chooser's), as (bytes, name)."""
    for field in (form.photo, form.file):
        storage = field.data
        if storage and getattr(storage, "filename", ""):
            return storage.read(), storage.filename
    return b"", ""


# --- evidence files ------------------------------------------------------------------------------

def _claim(claim_id: int, action: str):
    """The claim (404 outside the user's sight), if the user may do ``action`` on it (else 403)."""
    claim = queries.get_claim_or_404(claim_id, current_user)
    require(current_user, action, claim)
    return claim


@blueprint.route("/leads/<int:lead_id>/attachments", methods=["POST"])
@login_required
def upload(lead_id):
    """Upload from the lead page; with ``claim_id`` the file also becomes that claim's evidence."""
    lead = get_lead_or_404(lead_id, current_user, "attachment.upload")
    form = UploadForm()
    back = url_for("leads.show", lead_id=lead.id) + "#claims"
    if not form.validate_on_submit():
        flash(_("请选择文件和材料类型"), "error")
        return redirect(back)
    claim = None
    claim_id = inputs.int_arg({"claim_id": form.claim_id.data}, "claim_id")
    if claim_id is not None:
        claim = queries.get_claim_or_404(claim_id, current_user)
        if claim.lead_id != lead.id:
            abort(404)
    data, name = _uploaded(form)
    attempt(None, lambda: services.upload_evidence(current_user, lead, data, name,
                                                   form.kind.data, claim), _("材料已上传"))
    return redirect(back)


@blueprint.route("/claims/files/<int:attachment_id>")
@login_required
def download(attachment_id):
    return file_response(queries.get_attachment_or_404(attachment_id, current_user), inline=False)


@blueprint.route("/claims/files/<int:attachment_id>/view")
@login_required
def preview(attachment_id):
    """Shown in the page (an image, or a PDF in a frame), under a sandboxing policy."""
    return file_response(queries.get_attachment_or_404(attachment_id, current_user), inline=True)


@blueprint.route("/claims/files/<int:attachment_id>/thumb")
@login_required
def thumbnail(attachment_id):
    attachment = queries.get_attachment_or_404(attachment_id, current_user)
    if not attachment.is_image:
        abort(404)
    return file_response(attachment, inline=True, thumbnail=True)


# --- the queue and a claim -----------------------------------------------------------------------

@blueprint.route("/claims/")
@login_required
def queue():
    """待核验: pending claims, oldest first, by unit, kind and waiting time."""
    require(current_user, "claims.queue")
    township_id = inputs.int_arg(request.args, "township_id")
    kind = request.args.get("kind") if request.args.get("kind") in CLAIM_KINDS else None
    age = inputs.int_arg(request.args, "age")
    age = age if age in AGES else None
    page = inputs.page_arg(request.args)
    as_of = today()
    older_than = queries.workdays_back(as_of, age) if age else None
    result = queries.list_claims(current_user, status="pending", kind=kind,
                                 township_id=township_id, older_than=older_than, page=page,
                                 per_page=30)
    townships = unit_choices(current_user)
    keep_in_range(result)
    return render_template("claims/queue.html", result=result, townships=townships,
                           township_id=township_id, kind=kind, age=age, ages=AGES,
                           CLAIM_KINDS=CLAIM_KINDS, CLAIM_KIND_LABELS=CLAIM_KIND_LABELS)


@blueprint.route("/claims/<int:claim_id>")
@login_required
def show(claim_id):
    claim = queries.get_claim_or_404(claim_id, current_user)
    reused = services.reused_on(claim.evidence)
    others = [a for a in queries.attachments_of_lead(claim.lead)
              if a.id not in {e.id for e in claim.evidence}]
    return render_template(
        "claims/show.html", claim=claim, reused=reused, others=others,
        required=REQUIRED_EVIDENCE[claim.kind], missing=services.missing_evidence(claim),
        review_form=ReviewForm(), resubmit_form=ResubmitForm(kind=REQUIRED_EVIDENCE[claim.kind][0]),
        ATTACHMENT_LABELS=ATTACHMENT_KIND_LABELS,
    )


@blueprint.route("/claims/<int:claim_id>/review", methods=["POST"])
@login_required
def review(claim_id):
    claim = _claim(claim_id, "claim.review")
    form = ReviewForm()
    if form.validate_on_submit():
        done = attempt(None, lambda: services.review(
            current_user, claim, form.decision.data or "", form.opinion.data or ""),
            _("已通过核验") if form.decision.data == "verify" else _("已退回"))
        if done is REFUSED:
            return redirect(url_for("claims.show", claim_id=claim_id))
        nxt = queries.next_pending(current_user)
        return redirect(url_for("claims.show", claim_id=nxt) if nxt
                        else url_for("claims.queue"))
    flash(_("意见过长"), "error")
    return redirect(url_for("claims.show", claim_id=claim_id))


@blueprint.route("/claims/<int:claim_id>/evidence", methods=["POST"])
@login_required
def add_evidence(claim_id):
    """One of the lead's files already uploaded, as this claim's evidence."""
    claim = _claim(claim_id, "claim.submit")
    attachment = queries.lead_attachment(claim, inputs.int_arg(request.form, "attachment_id"))
    if attachment is None:
        abort(404)
    attempt(None, lambda: services.add_evidence(current_user, claim, attachment),
            _("已添加为佐证材料"))
    return redirect(url_for("claims.show", claim_id=claim_id))


@blueprint.route("/claims/<int:claim_id>/resubmit", methods=["POST"])
@login_required
def resubmit(claim_id):
    """A returned claim: more evidence (optional here) and pending again."""
    claim = _claim(claim_id, "claim.submit")
    form = ResubmitForm()
    if not form.validate_on_submit():
        flash(_("请检查填写的内容"), "error")
        return redirect(url_for("claims.show", claim_id=claim_id))
    data, name = _uploaded(form)

    def resubmit_with_file():
        if data or name:
            services.upload_evidence(current_user, claim.lead, data, name, form.kind.data, claim)
        services.resubmit(current_user, claim)

    attempt(None, resubmit_with_file, _("已重新提交核验"))
    return redirect(url_for("claims.show", claim_id=claim_id))


@blueprint.app_context_processor
def _claims_globals():
    """For the navigation: the number of claims waiting (asked only where it is shown)."""

    def pending_claims() -> int:
        return queries.pending_count(current_user)

    return {"pending_claims": pending_claims}


@blueprint.app_context_processor
def _claim_labels():
    from crm.claims.models import STATUS_LABELS

    return {"CLAIM_KIND_LABELS_T": CLAIM_KIND_LABELS, "STATUS_LABELS_T": STATUS_LABELS}
