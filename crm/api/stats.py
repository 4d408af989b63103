"""GET /stats/townships: every unit's statistics, as CONTRACT.md shows them."""

from flask import abort, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crm.api.auth import api_user, token_required
from crm.api.docs import errors
from crm.api.schemas import Wan, wan_json
from crm.auth.permissions import can, visible_townships
from crm.db import today
from crm.extensions import db
from crm.stats.queries import as_float, district_stats
from crm.townships.models import Township

bp = Blueprint("api_stats", __name__, description="Statistics by unit")


def blueprints():
    return [bp]


class StatsQuerySchema(Schema):
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))
    as_of = fields.Date()


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


def stats_payload(stats) -> dict:
    """The JSON of CONTRACT.md (rates rounded to 4 places, null for a zero denominator).

    Built in the JSON types ``StatsSchema`` gives, so the view returns it as it is: dumping
    2,000 units through marshmallow took longer than computing them. ``tests/api`` checks that
    ``StatsSchema().dump`` of it changes nothing.
    """
    def counts(values):
        return {k: int(v) for k, v in values.items()}

    return {
        "year": stats.year,
        "as_of": stats.as_of.isoformat(),
        "time_progress": as_float(stats.time_progress),
        "townships": [
            {
                "township_id": u.township_id, "name": u.name, "rank": u.rank,
                "snapshot": counts(u.snapshot), "entered": counts(u.entered),
                "conversion": {k: as_float(v) for k, v in u.conversion.items()},
                "velocity": {k: None if v is None else float(v) for k, v in u.velocity.items()},
                "start_rate": as_float(u.start_rate),
                "stats_inclusion_rate": as_float(u.stats_inclusion_rate),
                "funds_arrival_rate": as_float(u.funds_arrival_rate),
                "mean_attainment": as_float(u.mean_attainment),
                "targets": [
                    {"metric": t.metric, "target": wan_json(t.target), "actual": wan_json(t.actual),
                     "attainment": as_float(t.attainment), "color": t.color}
                    for t in u.targets
                ],
            }
            for u in stats.units
        ],
    }


@bp.route("/stats/townships", methods=["GET"])
@bp.arguments(StatsQuerySchema, location="query")
@bp.response(200, StatsSchema)
@errors(bp, 403, 422)
@token_required
def township_stats(args):
    """Snapshot, entries, conversion, rates and targets of every unit the user may see
    statistics of (the policy's ``unit.stats``: not officers, who get 403)."""
    user = api_user()
    visible = list(db.session.scalars(visible_townships(user).with_only_columns(Township.id)))
    ids = [i for i in visible if can(user, "unit.stats", i)]
    if visible and not ids:
        abort(403)
    as_of = args.get("as_of") or today()
    year = args.get("year") or as_of.year
    return jsonify(stats_payload(district_stats(user, year, as_of,
                                                township_ids=None if ids == visible else ids)))
