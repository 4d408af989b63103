"""Evidence files and milestone claims: upload, download, list, evidence, review, resubmit."""

import sqlalchemy as sa
from flask import request
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from crm.api.auth import TokenView, api_user
from crm.api.base import AnswerSchema, ApiSchema
from crm.api.docs import errors, json_read, json_write
from crm.api.schemas import ID, ID_MAX, Text, Wan, page_schema
from crm.auth.permissions import get_lead_or_404
from crm.claims import queries, services
from crm.claims.models import (
    ATTACHMENT_KINDS,
    CLAIM_KINDS,
    DECISIONS,
    STATUSES,
    Claim,
    ClaimEvidence,
)
from crm.claims.views import file_response
from crm.errors import DomainError
from crm.extensions import db

bp = Blueprint("api_claims", __name__, description="Evidence files and milestone claims (核验)")


# --- schemas ---------------------------------------------------------------------------------

class ReusedSchema(AnswerSchema):
    lead_id = fields.Integer(required=True)
    township_name = fields.String(required=True)


class AttachmentSchema(AnswerSchema):
    id = fields.Integer(required=True)
    lead_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(ATTACHMENT_KINDS)})
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    uploaded_by = fields.Integer(attribute="uploaded_by_id", allow_none=True)
    uploaded_at = fields.DateTime()
    taken_at = fields.DateTime(allow_none=True)
    gps_lat = fields.Float(allow_none=True)
    gps_lon = fields.Float(allow_none=True)
    reused_on = fields.List(fields.Nested(ReusedSchema), metadata={
        "optional": True,  # given by the attachment and claim calls, not inside a lead
        "description": "Other leads holding the same file (same SHA-256), with their unit."})


class ReviewSchema(AnswerSchema):
    decision = fields.String(required=True)
    opinion = fields.String()
    by = fields.Integer(attribute="by_id", allow_none=True)
    at = fields.DateTime()


class ClaimSchema(AnswerSchema):
    id = fields.Integer(required=True)
    lead_id = fields.Integer(required=True)
    township_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(CLAIM_KINDS)})
    effective_on = fields.Date(required=True)
    amount_wan = Wan(allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    evidence = fields.List(fields.Nested(AttachmentSchema))
    submitted_by = fields.Integer(attribute="submitted_by_id", allow_none=True)
    submitted_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    reviews = fields.List(fields.Nested(ReviewSchema))


ClaimPageSchema = page_schema(ClaimSchema)


class ClaimQuerySchema(ApiSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.OneOf(CLAIM_KINDS))
    township_id = fields.Integer(validate=validate.Range(min=1, max=ID_MAX))
    lead_id = fields.Integer(validate=validate.Range(min=1, max=ID_MAX))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class UploadSchema(ApiSchema):
    """The multipart body: both parts are required (checked by the service, which names the
    missing one in ``fields``); this schema documents them."""

    file = fields.Raw(metadata={"type": "string", "format": "binary",
                                "description": "PDF, JPEG, PNG or WebP; required"})
    kind = fields.String(metadata={"enum": list(ATTACHMENT_KINDS), "description": "required"})


class EvidenceInSchema(ApiSchema):
    attachment_id = fields.Integer(required=True, strict=True,
                                   validate=validate.Range(min=1, max=ID_MAX))


class ReviewInSchema(ApiSchema):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    opinion = Text(load_default="", validate=validate.Length(max=services.OPINION_MAX))


class ResubmitSchema(ApiSchema):
    """No fields; the body may be empty."""


# --- helpers -----------------------------------------------------------------------------------

def annotate(claims) -> None:
    """``reused_on`` on every evidence file of ``claims``, in one query."""
    attachments = {a.id: a for c in claims for a in c.evidence}
    reused = services.reused_on(attachments.values())
    for attachment in attachments.values():
        attachment.reused_on = reused.get(attachment.id, [])


def attach_claims(leads) -> None:
    """Load the claims of ``leads`` (for the lead's ``claims``) in a fixed number of queries."""
    leads = [lead for lead in leads if lead is not None]
    if not leads:
        return
    by_lead = {lead.id: [] for lead in leads}
    rows = db.session.scalars(
        sa.select(Claim).where(Claim.lead_id.in_(list(by_lead)))
        .options(selectinload(Claim.evidence_links).joinedload(ClaimEvidence.attachment),
                 selectinload(Claim.reviews))
        .order_by(Claim.id)
    ).unique()
    for claim in rows:
        by_lead[claim.lead_id].append(claim)
    for lead in leads:
        set_committed_value(lead, "claims", by_lead[lead.id])
    annotate([c for items in by_lead.values() for c in items])


def _claim(claim_id: int) -> Claim:
    return queries.get_claim_or_404(claim_id, api_user())


def _answer(claim: Claim) -> Claim:
    claim = queries.get_claim_or_404(claim.id, api_user())
    annotate([claim])
    return claim


# --- routes ------------------------------------------------------------------------------------

@bp.route(f"/leads/<{ID}:lead_id>/attachments")
class LeadAttachments(TokenView):
    @json_write(bp, UploadSchema, AttachmentSchema, 201, codes=(400, 403, 404, 413, 422), location="files")
    def post(self, _files, lead_id):
        """Upload an evidence file (multipart `file` and `kind`; checked by its content)."""
        lead = get_lead_or_404(lead_id, api_user())
        sent = {str(name) for name in (*request.form, *request.files)}  # a part may lack a name
        unknown = sorted(sent - {"file", "kind"})
        if unknown:  # as the JSON bodies do (marshmallow's RAISE): a field we do not know is 422
            message = _l("未知字段：%(f)s", f="、".join(unknown))
            raise DomainError(message, {name: [_l("未知字段")] for name in unknown})
        upload = request.files.get("file")
        if upload is None:
            message = _l("请选择文件")
            raise DomainError(message, {"file": [message]})
        attachment = services.upload_attachment(api_user(), lead, upload.read(),
                                                upload.filename or "", request.form.get("kind", ""))
        attachment.reused_on = services.reused_on([attachment]).get(attachment.id, [])
        return attachment


@bp.route(f"/attachments/<{ID}:attachment_id>")
class AttachmentFile(TokenView):
    @bp.response(200, description="The file, as a download (Content-Disposition: attachment)",
                 content_type="application/octet-stream")
    @errors(bp, 404)
    def get(self, attachment_id):
        """Download an evidence file (another unit's file is 404)."""
        attachment = queries.get_attachment_or_404(attachment_id, api_user())
        return file_response(attachment, inline=False)


@bp.route("/claims")
class ClaimCollection(TokenView):
    @json_read(bp, ClaimQuerySchema, ClaimPageSchema)
    def get(self, args):
        """Claims the user may see, oldest submission first."""
        page = queries.list_claims(
            api_user(), status=args.get("status"), kind=args.get("kind"),
            township_id=args.get("township_id"), lead_id=args.get("lead_id"),
            page=args["page"], per_page=args["per_page"])
        annotate(page.items)
        return {"items": page.items, "total": page.total, "page": page.page,
                "per_page": page.per_page}


@bp.route(f"/claims/<{ID}:claim_id>/evidence")
class ClaimEvidenceCall(TokenView):
    @json_write(bp, EvidenceInSchema, ClaimSchema)
    def post(self, data, claim_id):
        """Attach one of the lead's evidence files to a pending or returned claim."""
        claim = _claim(claim_id)
        attachment = queries.lead_attachment(claim, data["attachment_id"])
        if attachment is None:
            message = _l("只能使用本项目的材料")
            raise DomainError(message, {"attachment_id": [message]})
        services.add_evidence(api_user(), claim, attachment)
        return _answer(claim)


@bp.route(f"/claims/<{ID}:claim_id>/review")
class ClaimReviewCall(TokenView):
    @json_write(bp, ReviewInSchema, ClaimSchema)
    def post(self, data, claim_id):
        """通过 (verify) or 退回 (return, with an opinion). Reviewers and admins; never one's own
        claim or evidence."""
        claim = _claim(claim_id)
        services.review(api_user(), claim, data["decision"], data.get("opinion", ""))
        return _answer(claim)


@bp.route(f"/claims/<{ID}:claim_id>/resubmit")
class ClaimResubmit(TokenView):
    @bp.response(200, ClaimSchema)
    @errors(bp, 403, 404, 409)
    def post(self, claim_id):
        """A returned claim, pending again (add evidence first)."""
        claim = _claim(claim_id)
        services.resubmit(api_user(), claim)
        return _answer(claim)


#: Calls that take no body (the API otherwise answers 400 to a POST without one).
BODYLESS_ENDPOINTS = {"api_claims.ClaimResubmit"}
