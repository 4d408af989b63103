"""Companies (投资方) and disputes (撞单): search, the queue, rulings."""

from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import fields, validate

from crm.api.auth import TokenView, api_user
from crm.api.base import ApiSchema
from crm.api.docs import json_read, json_write
from crm.api.schemas import ID, Text
from crm.auth.permissions import can
from crm.companies import mail, queries, services
from crm.companies.models import DECISIONS, DISPUTE_STATUSES
from crm.errors import Forbidden
from crm.unit_of_work import commit_now

bp = Blueprint("api_companies", __name__, description="Companies (投资方) and disputes (撞单)")


class FirstRegisteredSchema(ApiSchema):
    township_name = fields.String(required=True)
    registered_on = fields.Date(required=True)


class CompanySchema(ApiSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    credit_code = fields.String(allow_none=True)
    origin = fields.String()
    lead_count = fields.Integer(metadata={
        "description": "Its leads the caller may see (merged leads are counted nowhere)."})


class CompanyPageSchema(ApiSchema):
    items = fields.List(fields.Nested(CompanySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class CompanyQuerySchema(ApiSchema):
    q = Text(validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DisputeSchema(ApiSchema):
    id = fields.Integer(required=True)
    lead_ids = fields.List(fields.Integer(), required=True)
    first_lead_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": list(DISPUTE_STATUSES)})
    decision = fields.String(allow_none=True, metadata={"enum": list(DECISIONS)})
    ruled_by = fields.Integer(attribute="ruled_by_id", allow_none=True)
    ruled_at = fields.DateTime(allow_none=True)
    note = fields.String()


class DisputeQuerySchema(ApiSchema):
    status = fields.String(validate=validate.OneOf(DISPUTE_STATUSES))


class RulingSchema(ApiSchema):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    note = Text(load_default="", validate=validate.Length(max=services.NOTE_MAX))


def attach_notice(lead) -> None:
    """``first_registered`` on a lead: its dispute notice while disputed, else None."""
    notice = getattr(lead, "dispute_notice", None) or services.open_dispute_notice(lead)
    lead.first_registered = (
        {"township_name": notice.township_name, "registered_on": notice.registered_on}
        if notice and lead.ownership == "disputed" else None)


def _require_reviewer():
    if not can(api_user(), "dispute.review"):
        raise Forbidden(_l("仅区投促局审核员和管理员可查看和裁定撞单"))


@bp.route("/companies")
class CompanyCollection(TokenView):
    @json_read(bp, CompanyQuerySchema, CompanyPageSchema)
    def get(self, args):
        """Companies by name, normalised name or credit code; `lead_count` counts the leads the
        caller may see."""
        page = queries.search_companies(api_user(), args.get("q"), args["page"], args["per_page"])
        items = [{"id": c.id, "name": c.name, "credit_code": c.credit_code, "origin": c.origin,
                  "lead_count": n} for c, n in page.items]
        return {"items": items, "total": page.total, "page": page.page,
                "per_page": page.per_page}


@bp.route("/disputes")
class DisputeCollection(TokenView):
    @json_read(bp, DisputeQuerySchema, DisputeSchema(many=True), codes=(403, 422,))
    def get(self, args):
        """Disputes (疑似撞单), open first (reviewers and admins)."""
        _require_reviewer()
        return queries.list_disputes(args.get("status"))


@bp.route(f"/disputes/<{ID}:dispute_id>/ruling")
class DisputeRuling(TokenView):
    @json_write(bp, RulingSchema, DisputeSchema)
    def post(self, data, dispute_id):
        """Rule: `keep_first`/`keep_second` merge the other lead into the kept one, `separate`
        lets both stand; 409 when already ruled. Both units' heads are mailed."""
        _require_reviewer()
        dispute = queries.get_dispute_or_404(dispute_id)
        services.rule(api_user(), dispute, data["decision"], data.get("note", ""))
        commit_now()
        mail.send_now(dispute)
        return dispute
