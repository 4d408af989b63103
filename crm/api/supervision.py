"""Supervision orders (督办单) and published bulletins (通报 第N期) in the API."""

import sqlalchemy as sa
from flask import abort
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import fields, validate

from crm.api.auth import TokenView, api_user
from crm.api.base import ApiSchema
from crm.api.docs import errors, json_read, json_write
from crm.api.schemas import ID, ID_MAX, Day, Text
from crm.auth.permissions import can, get_lead_or_404
from crm.bulletin import issues
from crm.bulletin.models import BulletinIssue
from crm.claims.models import Attachment
from crm.errors import DomainError
from crm.extensions import db
from crm.supervision import queries, services
from crm.supervision.models import LEVELS, STATUSES

bp = Blueprint("api_supervision", __name__, description="Supervision orders (督办)")
bulletins_bp = Blueprint("api_bulletins", __name__, description="Published bulletins (通报)")


# --- schemas ---------------------------------------------------------------------------------

class AnswerSchema(ApiSchema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    by = fields.Integer(attribute="by_id", allow_none=True)
    at = fields.DateTime()
    attachment_ids = fields.Method("_files")

    def _files(self, answer):
        return [f.id for f in answer.files]


class OrderSchema(ApiSchema):
    id = fields.Integer(required=True)
    lead_id = fields.Integer(required=True)
    township_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    number = fields.Integer(required=True)
    number_text = fields.String(metadata={"description": "〔year〕第N号"})
    level = fields.String(required=True, metadata={"enum": list(LEVELS)})
    reason = fields.String(required=True)
    issued_on = fields.Date(required=True)
    due_on = fields.Date(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    automatic = fields.Boolean()
    escalated_from_id = fields.Integer(allow_none=True)
    issued_by = fields.Integer(attribute="issued_by_id", allow_none=True)
    closed_note = fields.String()
    closed_by = fields.Integer(attribute="closed_by_id", allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    answers = fields.List(fields.Nested(AnswerSchema))


class OrderQuerySchema(ApiSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    level = fields.String(validate=validate.OneOf(LEVELS))
    township_id = fields.Integer(validate=validate.Range(min=1, max=ID_MAX))


class IssueInSchema(ApiSchema):
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    reason = Text(required=True, validate=validate.Length(max=services.TEXT_MAX), min_len=1)
    due_on = Day(allow_none=True)


class AnswerInSchema(ApiSchema):
    text = Text(required=True, validate=validate.Length(max=services.TEXT_MAX), min_len=1)
    attachment_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=ID_MAX)),
        load_default=list, validate=validate.Length(max=20), metadata={
            "description": "Evidence files of the lead, uploaded with "
                           "POST /leads/{id}/attachments (optional)"})


class CloseInSchema(ApiSchema):
    note = Text(required=True, validate=validate.Length(max=services.TEXT_MAX), min_len=1)


class IssueSummarySchema(ApiSchema):
    id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    number = fields.Integer(required=True)
    as_of = fields.Date(required=True)
    published_at = fields.DateTime(required=True)


class IssueSchema(IssueSummarySchema):
    published_by = fields.Integer(attribute="published_by_id", allow_none=True)
    time_progress = fields.Float(allow_none=True)
    metrics = fields.List(fields.String())
    townships = fields.List(fields.Dict(), metadata={
        "description": "[{township_id, name, rank, ranked, rank_change (↑2, ↓1, —, 新), "
                       "rank_delta, mean_attainment, targets, pending, snapshot, entered}]"})
    counts = fields.Dict()
    red = fields.List(fields.Dict())
    yellow = fields.List(fields.Dict())
    totals = fields.Dict()
    pending = fields.Dict()
    orders = fields.List(fields.Dict())


class PublishInSchema(ApiSchema):
    as_of = Day(required=True)


# --- supervision -------------------------------------------------------------------------------

@bp.route("/supervision")
class OrderCollection(TokenView):
    @json_read(bp, OrderQuerySchema, OrderSchema(many=True))
    def get(self, args):
        """Orders on the leads the user may see, newest first."""
        return queries.list_orders(api_user(), status=args.get("status"), level=args.get("level"),
                                   township_id=args.get("township_id"))


@bp.route(f"/leads/<{ID}:lead_id>/supervision")
class LeadOrders(TokenView):
    @json_write(bp, IssueInSchema, OrderSchema, 201, codes=(400, 403, 404, 413, 422))
    def post(self, data, lead_id):
        """Issue an order on the lead (district admins); due in 10 workdays unless `due_on`."""
        lead = get_lead_or_404(lead_id, api_user())
        order = services.issue_order(api_user(), lead, data["level"], data["reason"],
                                     data.get("due_on"))
        return queries.get_order_or_404(order.id, api_user())


def _order(order_id):
    return queries.get_order_or_404(order_id, api_user())


@bp.route(f"/supervision/<{ID}:order_id>/answers")
class OrderAnswers(TokenView):
    @json_write(bp, AnswerInSchema, OrderSchema)
    def post(self, data, order_id):
        """The unit's answer (its head or the lead's officers): the order becomes `answered`."""
        order = _order(order_id)
        ids = set(data["attachment_ids"])
        files = list(db.session.scalars(sa.select(Attachment).where(
            Attachment.id.in_(ids), Attachment.lead_id == order.lead_id))) if ids else []
        if len(files) != len(ids):
            message = _l("只能使用本项目的材料")
            raise DomainError(message, {"attachment_ids": [message]})
        services.answer_order(api_user(), order, data["text"], files)
        return order


@bp.route(f"/supervision/<{ID}:order_id>/close")
class OrderClose(TokenView):
    @json_write(bp, CloseInSchema, OrderSchema)
    def post(self, data, order_id):
        """Close the order with a note (district admins)."""
        order = _order(order_id)
        services.close_order(api_user(), order, data["note"])
        return order


# --- published bulletins -----------------------------------------------------------------------

def _issue_json(issue: BulletinIssue) -> dict:
    return {**issue.content, "id": issue.id, "year": issue.year, "number": issue.number,
            "as_of": issue.as_of, "published_at": issue.published_at,
            "published_by_id": issue.published_by_id}


def _require_view():
    if not can(api_user(), "bulletins.view"):
        abort(403)


@bulletins_bp.route("/bulletins")
class BulletinCollection(TokenView):
    @bulletins_bp.response(200, IssueSummarySchema(many=True))
    @errors(bulletins_bp, 403)
    def get(self):
        """The published issues, newest as-of date first (district roles)."""
        _require_view()
        return issues.list_issues()

    @bulletins_bp.arguments(PublishInSchema)
    @bulletins_bp.response(201, IssueSummarySchema)
    @errors(bulletins_bp, 400, 403, 409, 413, 422)
    def post(self, data):
        """Publish the bulletin of `as_of` as the next issue of its year (district admins);
        409 when that date is published."""
        return issues.publish(api_user(), data["as_of"])


@bulletins_bp.route(f"/bulletins/<{ID}:issue_id>")
class BulletinItem(TokenView):
    @bulletins_bp.response(200, IssueSchema)
    @errors(bulletins_bp, 403, 404)
    def get(self, issue_id):
        """One issue as published (frozen)."""
        _require_view()
        issue = db.session.get(BulletinIssue, issue_id)
        if issue is None:
            abort(404)
        return _issue_json(issue)
