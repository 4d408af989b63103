"""Leads, transitions, visits and funds: the same services as the pages."""

import sqlalchemy as sa
from flask_smorest import Blueprint
from sqlalchemy.orm import selectinload

from crm.api.auth import TokenView, api_user
from crm.api.claims import attach_claims
from crm.api.companies import attach_notice
from crm.api.docs import errors, json_read, json_write
from crm.api.schemas import (
    ID,
    FundInSchema,
    FundSchema,
    LeadCreateSchema,
    LeadPageSchema,
    LeadPatchSchema,
    LeadQuerySchema,
    LeadSchema,
    TransitionSchema,
    VisitInSchema,
    VisitSchema,
)
from crm.auth.permissions import get_lead_or_404
from crm.clock import today
from crm.extensions import db
from crm.leads import queries, services
from crm.leads.colour import ColouredLead, lead_colour
from crm.leads.models import Lead
from crm.visits import services as visit_services
from crm.visits.models import Visit

bp = Blueprint("api_leads", __name__, description="Leads, their stages, visits and funds")


def _with_colour(lead: Lead) -> ColouredLead:
    attach_claims([lead])
    attach_notice(lead)
    return ColouredLead(lead, lead_colour(lead, today())[0])


def _load(lead_id: int) -> Lead:
    return get_lead_or_404(lead_id, api_user(), options=[
        selectinload(Lead.helpers), selectinload(Lead.stage_changes)])


@bp.route("/leads")
class LeadCollection(TokenView):
    @json_read(bp, LeadQuerySchema, LeadPageSchema)
    def get(self, args):
        """Leads the user may see, filtered and paginated."""
        flt = queries.LeadFilter(
            township_id=args.get("township_id"), stage=args.get("stage"),
            officer_id=args.get("officer_id"), color=args.get("color"), q=args.get("q"),
            key_level=args.get("key_level"),
        )
        result = queries.list_leads(api_user(), flt, today(), page=args["page"],
                                    per_page=args["per_page"])
        attach_claims([item.lead for item in result.items])
        return {"items": result.items, "total": result.total, "page": result.page,
                "per_page": result.per_page}

    @json_write(bp, LeadCreateSchema, LeadSchema, 201, codes=(400, 403, 413, 422))
    def post(self, data):
        """Create a lead (stage defaults to contact, created_on to today)."""
        user = api_user()
        helper_ids = data.pop("officer_ids", None) or []
        data["helper_ids"] = [i for i in helper_ids if i != data.get("primary_officer_id")]
        lead = services.create_lead(user, data)
        return _with_colour(lead)


@bp.route(f"/leads/<{ID}:lead_id>")
class LeadItem(TokenView):
    @bp.response(200, LeadSchema)
    @errors(bp, 404)
    def get(self, lead_id):
        """One lead."""
        return _with_colour(_load(lead_id))

    @json_write(bp, LeadPatchSchema, LeadSchema)
    def patch(self, data, lead_id):
        """Change fields; `version` must be the one read, else 409 and nothing changes."""
        lead = _load(lead_id)
        version = data.pop("version")
        services.update_lead(api_user(), lead, data, version)
        return _with_colour(lead)


@bp.route(f"/leads/<{ID}:lead_id>/transitions")
class LeadTransitions(TokenView):
    @json_write(bp, TransitionSchema, LeadSchema)
    def post(self, data, lead_id):
        """Move the lead to another stage (the stage rules of crm/leads/pipeline.py)."""
        lead = _load(lead_id)
        services.move_stage(
            api_user(), lead, data["to"], on=data.get("on"), reason=data.get("reason", ""),
            lost_reason=data.get("lost_reason"), version=data.get("version"),
        )
        return _with_colour(lead)


@bp.route(f"/leads/<{ID}:lead_id>/visits")
class LeadVisits(TokenView):
    @bp.response(200, VisitSchema(many=True))
    @errors(bp, 404)
    def get(self, lead_id):
        """The lead's visits, newest first."""
        lead = _load(lead_id)
        return db.session.scalars(
            sa.select(Visit).where(Visit.lead_id == lead.id)
            .order_by(Visit.visited_on.desc(), Visit.id.desc())
        ).all()

    @bp.alt_response(200, schema=VisitSchema,
                     description="Logged before with this `client_id`: that visit, unchanged")
    @json_write(bp, VisitInSchema, VisitSchema, 201, codes=(400, 403, 404, 409, 413, 422))
    def post(self, data, lead_id):
        """Log a visit; its next follow-up becomes the lead's. With a `client_id` already
        used by this user on this lead, the visit logged then is answered with 200 and nothing
        is logged; with one used by another user or on another lead, 409."""
        lead = _load(lead_id)
        visit, created = visit_services.record_visit(api_user(), lead, data)
        return visit, 201 if created else 200


@bp.route(f"/leads/<{ID}:lead_id>/funds")
class LeadFunds(TokenView):
    @json_write(bp, FundInSchema, FundSchema, 201, codes=(400, 403, 404, 413, 422))
    def post(self, data, lead_id):
        """Record capital arrived (万元) on a date."""
        lead = _load(lead_id)
        entry = services.add_funds(api_user(), lead, data["arrived_on"], data["amount_wan"])
        return entry
