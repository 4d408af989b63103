"""GET /stats/townships: every unit's statistics, as the public API documents them.

The answer is JSON made from the statistics' typed results (``crm.stats.results``). A province's
2,000 units make a 2 MB answer, and building and encoding 2,000 objects on every request took
longer than the target (decoding ~500 ms, marshmallow ~350 ms, ``jsonify`` ~120 ms). So:

- a unit's object (all but its id, name and rank) is made once from its results and kept in this
  process, keyed by the stored record it was made from (``_unit_text``): a record read again
  from the statistics cache is not decoded or encoded again, and a record that changed is
  another key, so nothing kept can be stale;
- the answer is the units' texts joined after ranking them by their mean attainment, with their
  id, name and rank put in front;
- the whole answer is kept in this process too (``cache.remember``), under the units' versions
  and names: while no unit the user sees has changed, the request reads the versions and sends
  it.

``StatsSchema`` documents the answer and the tests check the texts against it.
"""

import datetime as dt
import json
from functools import lru_cache

from flask import abort, current_app
from flask_smorest import Blueprint
from marshmallow import fields, validate

from crm.api.auth import api_user, token_required
from crm.api.base import ApiSchema
from crm.api.docs import json_read
from crm.api.schemas import Day, Wan, wan_json
from crm.auth.models import User
from crm.auth.permissions import allowed
from crm.clock import today
from crm.stats import cache, versions
from crm.stats.queries import district_stats, visible_units
from crm.stats.results import (
    BASES,
    PENDING_KINDS,
    DistrictStats,
    Ranked,
    UnitStats,
    as_float,
    default_basis,
    rank_units,
    time_progress,
    yellow_margin,
)

#: Units' texts kept per process (about 2 KB each with their key): a province's answer for a
#: few as-of dates.
KEPT_TEXTS = 10_000

bp = Blueprint("api_stats", __name__, description="Statistics by unit")


class StatsQuerySchema(ApiSchema):
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))
    as_of = Day()
    #: ``verified``: milestones count from verified claims only; ``claimed``: every claim.
    #: Default: ``verified`` while the setting CRM_VERIFICATION is on.
    basis = fields.String(validate=validate.OneOf(BASES))


class TargetStatSchema(ApiSchema):
    metric = fields.String(required=True)
    target = Wan(required=True)
    actual = Wan(required=True, allow_none=True, metadata={
        "description": "A count, an amount in 万元, or for start_rate and stats_inclusion_rate "
                       "the key projects' rate (null: none to rate); a rate past its due date "
                       "is its value on that date"})
    attainment = fields.Float(allow_none=True, required=True)
    color = fields.String(allow_none=True, required=True)
    due_on = fields.Date(metadata={"description": "The target's due date, when it has one",
                                   "optional": True})


def _counts():
    return fields.Dict(keys=fields.String(), values=fields.Integer())


def _rates():
    return fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))


class PendingSchema(ApiSchema):
    signed = fields.Integer(required=True)
    started = fields.Integer(required=True)
    producing = fields.Integer(required=True)
    stats_included = fields.Integer(required=True)
    funds_wan = Wan(required=True)


class TownshipStatSchema(ApiSchema):
    township_id = fields.Integer(required=True)
    name = fields.String(required=True)
    rank = fields.Integer(required=True, allow_none=True, metadata={
        "description": "null: the unit has no targets and is not ranked (未设目标)"})
    snapshot = _counts()
    entered = _counts()
    conversion = _rates()
    velocity = _rates()
    start_rate = fields.Float(allow_none=True)
    stats_inclusion_rate = fields.Float(allow_none=True)
    funds_arrival_rate = fields.Float(allow_none=True)
    mean_attainment = fields.Float(allow_none=True)
    #: 开工率 and 纳统率 of the unit's key projects (key_level not none).
    key_start_rate = fields.Float(allow_none=True)
    key_stats_inclusion_rate = fields.Float(allow_none=True)
    stats_included_investment_wan = Wan()
    targets = fields.List(fields.Nested(TargetStatSchema))
    #: Claims still 待核验 effective in the year up to the as-of date (zero on basis claimed).
    pending = fields.Nested(PendingSchema)


class StatsSchema(ApiSchema):
    year = fields.Integer(required=True)
    as_of = fields.Date(required=True)
    time_progress = fields.Float(required=True)
    townships = fields.List(fields.Nested(TownshipStatSchema), required=True)


@bp.route("/stats/townships", methods=["GET"])
@json_read(bp, StatsQuerySchema, StatsSchema, codes=(403, 422,))
@token_required
def township_stats(args):
    """Snapshot, entries, conversion, rates and targets of every unit the user may see
    statistics of (the policy's ``unit.stats``: not officers, who get 403)."""
    user = api_user()
    visible = visible_units(user)
    ids = set(allowed(user, "unit.stats", [t.id for t in visible]))
    townships = [t for t in visible if t.id in ids]
    if visible and not townships:
        abort(403)
    as_of = args.get("as_of") or today()
    year = args.get("year") or as_of.year
    body = stats_json(user, year, as_of, townships, args.get("basis") or default_basis())
    return current_app.response_class(body, mimetype="application/json")


# -- the answer as JSON text ------------------------------------------------------------------

def _counts(values: dict) -> dict:
    return {k: int(v) for k, v in values.items()}


def unit_object(u: UnitStats) -> dict:
    """One unit's numbers (rates rounded to 4 places, null for a zero denominator)."""
    return {
        "snapshot": _counts(u.snapshot), "entered": _counts(u.entered),
        "conversion": {k: as_float(v) for k, v in u.conversion.items()},
        "velocity": {k: None if v is None else float(v) for k, v in u.velocity.items()},
        "start_rate": as_float(u.start_rate),
        "stats_inclusion_rate": as_float(u.stats_inclusion_rate),
        "funds_arrival_rate": as_float(u.funds_arrival_rate),
        "mean_attainment": as_float(u.mean_attainment),
        "key_start_rate": as_float(u.key_start_rate),
        "key_stats_inclusion_rate": as_float(u.key_stats_inclusion_rate),
        "stats_included_investment_wan": wan_json(u.actuals["stats_included_investment_wan"]),
        "targets": [
            {"metric": t.metric, "target": wan_json(t.target),
             "actual": as_float(t.actual) if t.is_rate else wan_json(t.actual),
             "attainment": as_float(t.attainment), "color": t.color,
             **({"due_on": t.due_on.isoformat()} if t.due_on else {})}
            for t in u.targets
        ],
        "pending": {**{k: int(u.pending[k]) for k in PENDING_KINDS},
                    "funds_wan": wan_json(u.pending["funds_wan"])},
    }


def unit_json(u: UnitStats) -> str:
    """``unit_object`` as JSON text."""
    return _dumps(unit_object(u))


@lru_cache(maxsize=KEPT_TEXTS)
def _unit_text(record: str) -> str:
    """``unit_json`` of the results a stored record (``cache.load_records``) holds."""
    return unit_json(cache.unit(record))


def stats_payload(stats: DistrictStats) -> dict:
    """The whole answer for computed statistics, as a dict (tests; the API uses ``stats_json``)."""
    return {
        "year": stats.year, "as_of": stats.as_of.isoformat(),
        "time_progress": as_float(stats.time_progress),
        "townships": [{"township_id": u.township_id, "name": u.name, "rank": u.rank,
                       **unit_object(u)} for u in stats.units],
    }


def stats_json(user: User, year: int, as_of: dt.date, townships: list,
               basis: str = "verified") -> bytes:
    """The answer for ``townships`` (``visible_units`` rows) as JSON text: each unit's text from
    its stored results where they are current, the others computed (and stored) by
    ``district_stats``; ranked over all of them."""
    current = versions.current([t.id for t in townships])
    margin = yellow_margin()
    kept = cache.recall("api", townships, current, year, as_of, margin, basis)
    if kept is not None:  # no unit changed since this answer was made
        return kept
    stored = cache.load_records(current, year, as_of, margin, basis)
    found = {township_id: (mean, _unit_text(record))
             for township_id, (mean, record) in stored.items()}
    missing = [t.id for t in townships if t.id not in found]
    if missing:
        computed = district_stats(user, year, as_of, township_ids=missing, basis=basis)
        for u in computed.units:
            found[u.township_id] = (u.mean_attainment, unit_json(u))
    units = [Ranked(t.id, t.name, *found[t.id]) for t in townships]
    parts = [f'{{"township_id":{u.township_id},"name":{_dumps(u.name)},"rank":{_dumps(u.rank)},'
             f'{u.value[1:]}' for u in rank_units(units)]
    head = _dumps({"year": year, "as_of": as_of.isoformat(),
                   "time_progress": as_float(time_progress(year, as_of))})
    body = f'{head[:-1]},"townships":[{",".join(parts)}]}}'.encode()
    cache.remember("api", townships, current, year, as_of, margin, basis, body)
    return body


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
