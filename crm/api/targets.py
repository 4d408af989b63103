"""Yearly targets: read those of the units the user may see; admins set a unit's targets."""

from flask import abort
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from crm.api.auth import api_user, token_required
from crm.api.base import AnswerSchema, ApiSchema
from crm.api.docs import errors
from crm.api.schemas import ID, Wan, WanIn
from crm.auth.permissions import can, visible_townships
from crm.extensions import db
from crm.targets import services
from crm.targets.models import METRICS
from crm.townships.models import Township

bp = Blueprint("api_targets", __name__, description="Yearly targets per unit and metric")


def blueprints():
    return [bp]


class TargetQuerySchema(ApiSchema):
    year = fields.Integer(required=True, validate=validate.Range(
        min=services.YEAR_MIN, max=services.YEAR_MAX))


class TargetSchema(AnswerSchema):
    township_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    metric = fields.String(required=True, validate=validate.OneOf(METRICS))
    target = Wan(required=True, attribute="value")


#: The PUT body: any of the metrics, each a number (万元 or a count) or null to remove it.
TargetValuesSchema = ApiSchema.from_dict(
    {metric: WanIn(allow_none=True) for metric in METRICS}, name="TargetValuesSchema")


def _visible_township(township_id: int) -> Township:
    """The unit, if the user may see it; else 404 (another unit does not exist for them)."""
    township = db.session.scalar(
        visible_townships(api_user()).where(Township.id == township_id))
    if township is None:
        abort(404)
    return township


@bp.route("/targets")
class TargetCollection(MethodView):
    decorators = [token_required]

    @bp.arguments(TargetQuerySchema, location="query")
    @bp.response(200, TargetSchema(many=True))
    @errors(bp, 403, 422)
    def get(self, args):
        """The targets of the year of every unit the user may see (not officers: 403)."""
        if not can(api_user(), "targets.view"):
            abort(403)
        return services.targets_for(api_user(), args["year"])


@bp.route(f"/targets/<{ID}:township_id>/<year:year>")
class UnitTargets(MethodView):
    decorators = [token_required]

    @bp.arguments(TargetValuesSchema)
    @bp.response(200, TargetSchema(many=True))
    @errors(bp, 400, 403, 404, 413, 422)
    def put(self, values, township_id, year):
        """Set the unit's targets of the year (district_admin).

        Metrics left out keep their target; a metric given as null loses it. Answers all the
        unit's targets of the year.
        """
        township = _visible_township(township_id)
        targets = services.set_targets(api_user(), township.id, year, values)
        return targets
