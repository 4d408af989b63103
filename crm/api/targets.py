"""Yearly targets: read those of the units the user may see; admins set a unit's targets."""

from decimal import Decimal

from flask import abort
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, post_dump, validate

from crm.api.auth import TokenView, api_user
from crm.api.base import AnswerSchema, ApiSchema
from crm.api.docs import json_read, json_write
from crm.api.schemas import ID, Day, Wan, WanIn
from crm.auth.permissions import can, visible_townships
from crm.extensions import db
from crm.targets import services
from crm.targets.models import METRICS, RATE_METRICS
from crm.targets.services import VALUE_LIMIT
from crm.townships.models import Township

bp = Blueprint("api_targets", __name__, description="Yearly targets per unit and metric")


class TargetQuerySchema(ApiSchema):
    year = fields.Integer(required=True, validate=validate.Range(
        min=services.YEAR_MIN, max=services.YEAR_MAX))


class TargetSchema(AnswerSchema):
    township_id = fields.Integer(required=True)
    year = fields.Integer(required=True)
    metric = fields.String(required=True, validate=validate.OneOf(METRICS))
    target = Wan(required=True, attribute="value")
    due_on = fields.Date(metadata={"description": "完成时限, when the target has one",
                                   "optional": True})

    @post_dump
    def _no_due_date(self, data, **kwargs):
        """A target without a due date has no ``due_on`` (as before due dates existed)."""
        if data.get("due_on") is None:
            data.pop("due_on", None)
        return data


class TargetWithDueSchema(ApiSchema):
    target = WanIn(required=True)
    due_on = Day(allow_none=True, metadata={"description": "Within the year; null: none"})


class RateWithDueSchema(TargetWithDueSchema):
    target = WanIn(required=True)
    target.metadata["maximum"] = 1  # a share: 0.9 is 90%


#: The largest target a client may send: a rate is a share (0–1), anything else below 10¹².
LARGEST = {metric: 1 if metric in RATE_METRICS else float(VALUE_LIMIT - Decimal("0.0001"))
           for metric in METRICS}


class TargetValue(fields.Field):
    """A metric's target: a number (万元, a count, or a share 0–1 for a rate), or
    ``{"target": number, "due_on": "YYYY-MM-DD"}``; null removes it."""

    def __init__(self, metric: str, **kwargs):
        number = {"type": "number", "minimum": 0, "maximum": LARGEST[metric]}
        described = {"$ref": "#/components/schemas/"
                             + ("RateWithDue" if metric in RATE_METRICS else "TargetWithDue")}
        super().__init__(allow_none=True, metadata={"oneOf": [number, described]}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            return TargetWithDueSchema().load(value)
        if isinstance(value, list):
            raise ValidationError("须为数字或 {target, due_on}")
        return WanIn(allow_none=True).deserialize(value)


#: The PUT body: any of the metrics, each a number (万元, a count or a rate), an object with its
#: due date, or null to remove it.
TargetValuesSchema = ApiSchema.from_dict(
    {metric: TargetValue(metric) for metric in METRICS}, name="TargetValuesSchema")


def _visible_township(township_id: int) -> Township:
    """The unit, if the user may see it; else 404 (another unit does not exist for them)."""
    township = db.session.scalar(
        visible_townships(api_user()).where(Township.id == township_id))
    if township is None:
        abort(404)
    return township


@bp.route("/targets")
class TargetCollection(TokenView):
    @json_read(bp, TargetQuerySchema, TargetSchema(many=True), codes=(403, 422,))
    def get(self, args):
        """The targets of the year of every unit the user may see (not officers: 403)."""
        if not can(api_user(), "targets.view"):
            abort(403)
        return services.targets_for(api_user(), args["year"])


@bp.route(f"/targets/<{ID}:township_id>/<year:year>")
class UnitTargets(TokenView):
    @json_write(bp, TargetValuesSchema, TargetSchema(many=True), 200, codes=(400, 403, 404, 413, 422))
    def put(self, values, township_id, year):
        """Set the unit's targets of the year (district_admin).

        Metrics left out keep their target; a metric given as null loses it. A metric given as
        ``{"target": n, "due_on": "YYYY-MM-DD"}`` sets its due date (null: none); a plain number
        keeps the due date it has. ``start_rate`` and ``stats_inclusion_rate`` are shares (0.9
        for 90%). Answers all the unit's targets of the year.
        """
        township = _visible_township(township_id)
        targets = services.set_targets(api_user(), township.id, year, values)
        return targets
