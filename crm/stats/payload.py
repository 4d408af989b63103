"""The statistics as the JSON API gives them (CONTRACT.md: GET /api/v1/stats/townships).

A province's 2,000 units make a 2 MB answer. Each unit's object (all but its id, name and rank)
is kept as JSON text in the statistics cache, so an answer from the cache is assembled from text:
building and encoding 2,000 objects again on every request took longer than the target.
"""

import datetime as dt
import json

from crm.api.schemas import wan_json
from crm.auth.models import User
from crm.stats import cache
from crm.stats.queries import (
    DistrictStats,
    Ranked,
    UnitStats,
    as_float,
    district_stats,
    rank_units,
    time_progress,
    yellow_margin,
)


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
        "targets": [
            {"metric": t.metric, "target": wan_json(t.target), "actual": wan_json(t.actual),
             "attainment": as_float(t.attainment), "color": t.color}
            for t in u.targets
        ],
    }


def unit_json(u: UnitStats) -> str:
    """``unit_object`` as JSON text (what the cache keeps)."""
    return _dumps(unit_object(u))


def stats_payload(stats: DistrictStats) -> dict:
    """The whole answer for computed statistics (pages and tests; the API uses ``stats_json``)."""
    return {
        "year": stats.year, "as_of": stats.as_of.isoformat(),
        "time_progress": as_float(stats.time_progress),
        "townships": [{"township_id": u.township_id, "name": u.name, "rank": u.rank,
                       **unit_object(u)} for u in stats.units],
    }


def stats_json(user: User, year: int, as_of: dt.date, townships: list) -> str:
    """The answer for ``townships`` (``visible_units`` rows) as JSON text: each unit's object
    from the cache where it is current, the others computed (and stored) by ``district_stats``;
    ranked over all of them."""
    margin = yellow_margin()
    current = cache.versions([t.id for t in townships])
    found = cache.load_api(current, year, as_of, margin)
    missing = [t.id for t in townships if t.id not in found]
    if missing:
        computed = district_stats(user, year, as_of, township_ids=missing)
        for u in computed.units:
            found[u.township_id] = (u.mean_attainment, unit_json(u))
    units = [Ranked(t.id, t.name, *found[t.id]) for t in townships]
    parts = [f'{{"township_id":{u.township_id},"name":{_dumps(u.name)},"rank":{u.rank},'
             f'{u.json[1:]}' for u in rank_units(units)]
    head = _dumps({"year": year, "as_of": as_of.isoformat(),
                   "time_progress": as_float(time_progress(year, as_of))})
    return f'{head[:-1]},"townships":[{",".join(parts)}]}}'


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
