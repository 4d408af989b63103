"""Permit checklists (手续办理清单) of leads: list, add, change. The same services as the pages."""

from flask import abort
from flask_smorest import Blueprint
from marshmallow import fields, validate

from crm.api.auth import TokenView, api_user
from crm.api.base import ApiSchema
from crm.api.docs import errors, json_write
from crm.api.schemas import ID, Day, Text
from crm.auth.permissions import get_lead_or_404
from crm.extensions import db
from crm.permits import queries, services
from crm.permits.models import PERMIT_KINDS, Permit

bp = Blueprint("api_permits", __name__, description="Permit checklists of leads (手续办理清单)")


class PermitPatchSchema(ApiSchema):
    due_on = Day()
    done_on = Day(allow_none=True, metadata={"description": "null: not done"})
    note = Text(validate=validate.Length(max=services.NOTE_MAX))


class PermitInSchema(PermitPatchSchema):
    kind = fields.String(required=True, validate=validate.OneOf(PERMIT_KINDS))
    responsible_unit = Text(load_default="", validate=validate.Length(max=services.UNIT_MAX))
    due_on = Day(required=True)


class PermitSchema(ApiSchema):
    id = fields.Integer(required=True)
    lead_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PERMIT_KINDS))
    responsible_unit = fields.String(required=True)
    due_on = fields.Date(required=True)
    done_on = fields.Date(allow_none=True, required=True)
    note = fields.String(required=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


@bp.route(f"/leads/<{ID}:lead_id>/permits")
class LeadPermits(TokenView):
    @bp.response(200, PermitSchema(many=True))
    @errors(bp, 404)
    def get(self, lead_id):
        """The lead's checklist, by due date."""
        return queries.lead_permits(get_lead_or_404(lead_id, api_user()))

    @json_write(bp, PermitInSchema, PermitSchema, 201, codes=(400, 403, 404, 413, 422))
    def post(self, data, lead_id):
        """Add an item (the lead's editors)."""
        lead = get_lead_or_404(lead_id, api_user())
        return services.add_permit(api_user(), lead, data)


@bp.route(f"/permits/<{ID}:permit_id>")
class PermitItem(TokenView):
    @json_write(bp, PermitPatchSchema, PermitSchema, 200, codes=(400, 403, 404, 413, 422))
    def patch(self, data, permit_id):
        """Change an item's due date, done date (null: not done) or note."""
        permit = db.session.get(Permit, permit_id)
        if permit is None:
            abort(404)
        get_lead_or_404(permit.lead_id, api_user())
        return services.update_permit(api_user(), permit, data)
