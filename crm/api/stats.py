"""GET /stats/townships: every unit's statistics, as CONTRACT.md shows them."""

from flask import abort, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crm.api.auth import api_user, token_required
from crm.api.docs import errors
from crm.api.schemas import Day, Wan
from crm.auth.permissions import can
from crm.db import today
from crm.stats.payload import stats_json
from crm.stats.queries import visible_units

bp = Blueprint("api_stats", __name__, description="Statistics by unit")


def blueprints():
    return [bp]


class StatsQuerySchema(Schema):
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))
    as_of = Day()


class TargetStatSchema(Schema):
    metric = fields.String(required=True)
    target = Wan(required=True)
    actual = Wan(required=True)
    attainment = fields.Float(allow_none=True, required=True)
    color = fields.String(allow_none=True, required=True)


def _counts():
    return fields.Dict(keys=fields.String(), values=fields.Integer())


def _rates():
    return fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))


class TownshipStatSchema(Schema):
    township_id = fields.Integer(required=True)
    name = fields.String(required=True)
    rank = fields.Integer(required=True)
    snapshot = _counts()
    entered = _counts()
    conversion = _rates()
    velocity = _rates()
    start_rate = fields.Float(allow_none=True)
    stats_inclusion_rate = fields.Float(allow_none=True)
    funds_arrival_rate = fields.Float(allow_none=True)
    mean_attainment = fields.Float(allow_none=True)
    targets = fields.List(fields.Nested(TargetStatSchema))


class StatsSchema(Schema):
    year = fields.Integer(required=True)
    as_of = fields.Date(required=True)
    time_progress = fields.Float(required=True)
    townships = fields.List(fields.Nested(TownshipStatSchema), required=True)


@bp.route("/stats/townships", methods=["GET"])
@bp.arguments(StatsQuerySchema, location="query")
@bp.response(200, StatsSchema)
@errors(bp, 403, 422)
@token_required
def township_stats(args):
    """Snapshot, entries, conversion, rates and targets of every unit the user may see
    statistics of (the policy's ``unit.stats``: not officers, who get 403)."""
    user = api_user()
    visible = visible_units(user)
    townships = [t for t in visible if can(user, "unit.stats", t.id)]
    if visible and not townships:
        abort(403)
    as_of = args.get("as_of") or today()
    year = args.get("year") or as_of.year
    body = stats_json(user, year, as_of, townships)
    return current_app.response_class(body, mimetype="application/json")
