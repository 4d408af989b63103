"""The statistics as typed values: what ``queries`` computes, ``cache`` stores and every reader
(pages, the API, the bulletin, the mail) reads. No database and no transport here.

``to_record``/``from_record`` give a unit's results as exact JSON values (counts as ints, 万元 as
decimal strings, rates as [numerator, denominator] pairs): the form the cache keeps.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.leads.pipeline import ORDERED_STAGES, STAGES
from crm.money import plain_decimal
from crm.targets.models import COUNT_METRICS, RATE_METRICS

#: Consecutive active stages: the conversion and velocity steps.
STEPS = tuple(zip(ORDERED_STAGES, ORDERED_STAGES[1:], strict=False))

#: The dicts of numbers a ``UnitStats`` holds: counts are ints and velocities floats; the
#: actuals and the pending are ints or Decimals (kept as they are).
COUNTS = ("snapshot", "entered", "reached", "velocity")
#: The dicts a district's totals add up.
TOTALS = ("snapshot", "entered", "reached", "actuals", "pending")
#: The actuals (and pending) that are amounts of 万元 (the others count leads or visits).
AMOUNTS = ("signed_investment_wan", "funds_arrived_wan", "funds_wan",
           "stats_included_investment_wan")
#: What the milestone numbers count: ``verified`` claims only (from the day each is verified,
#: at its effective date), or every ``claimed`` milestone (the stage changes, 纳统 dates and
#: capital entries as entered). The setting CRM_VERIFICATION (on/off) chooses the default.
BASES = ("verified", "claimed")
#: The milestones a unit's ``pending`` counts (claims still 待核验); funds as an amount.
PENDING_KINDS = ("signed", "started", "producing", "stats_included")


def default_basis() -> str:
    """``verified`` while the setting CRM_VERIFICATION is on (the default), else ``claimed``."""
    value = current_app.config.get("CRM_VERIFICATION", "on")
    if isinstance(value, str):
        on = value.strip().lower() not in {"off", "0", "false", "no"}
    else:
        on = bool(value)
    return "verified" if on else "claimed"


PENDING_LABELS = {
    "signed": _l("签约"),
    "started": _l("开工"),
    "producing": _l("投产"),
    "stats_included": _l("纳统"),
    "funds_wan": _l("到位资金"),
}


def no_pending() -> dict:
    return {**dict.fromkeys(PENDING_KINDS, 0), "funds_wan": Decimal(0)}


def pending_summary(unit: "UnitStats") -> str:
    """A unit's claims still 待核验 (not in its numbers), e.g. "签约 +2、开工 +1、到位资金 +300万元";
    "" when none is (always on the claimed basis)."""
    parts = []
    for key, label in PENDING_LABELS.items():
        value = unit.pending.get(key) or 0
        if value > 0:
            text = f"{plain_decimal(Decimal(value)):,}"
            parts.append(f"{label} +{_('%(n)s万元', n=text) if key == 'funds_wan' else text}")
    return "、".join(parts)
RATES = ("start_rate", "stats_inclusion_rate", "funds_arrival_rate", "mean_attainment",
         "key_start_rate", "key_stats_inclusion_rate")
#: The unit's rate (an attribute of ``UnitStats``) each rate metric's target is judged on: the
#: rates of its key projects (重点项目, ``key_level`` not ``none``).
RATE_OF = {"start_rate": "key_start_rate", "stats_inclusion_rate": "key_stats_inclusion_rate"}


def time_progress(year: int, as_of: dt.date) -> Fraction:
    """Days from 1 January to ``as_of``, both counted, over the days of the year."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    day = min(max(as_of, start - dt.timedelta(days=1)), end)
    return Fraction((day - start).days + 1, (end - start).days + 1)


def progress_to(year: int, as_of: dt.date, due_on: dt.date | None) -> Fraction:
    """Time progress toward a target: over the year (``time_progress``) without a due date,
    else the days from 1 January to ``as_of`` over those to ``due_on`` (both counted), at most 1."""
    if due_on is None:
        return time_progress(year, as_of)
    start = dt.date(year, 1, 1)
    total = (due_on - start).days + 1
    if total <= 0:
        return Fraction(1)
    done = (min(as_of, due_on) - start).days + 1
    return min(Fraction(1), Fraction(max(done, 0), total))


def rate_colour(actual: Fraction | None, target, margin: Fraction | None = None) -> str | None:
    """A rate target's colour: 蓝 actual ≥ target; 黄 within ``margin`` (the setting
    CRM_TARGET_YELLOW_MARGIN, 0.10) below it; 红 lower. None without a rate (no projects)."""
    if actual is None:
        return None
    if margin is None:
        margin = yellow_margin()
    goal = ratio(target, 1)
    if actual >= goal:
        return "blue"
    if actual >= goal - margin:
        return "yellow"
    return "red"


def ratio(numerator, denominator) -> Fraction | None:
    """An exact rate, or None for a zero denominator."""
    if not denominator:
        return None
    n_num, n_den = Decimal(numerator or 0).as_integer_ratio()
    d_num, d_den = Decimal(denominator).as_integer_ratio()
    return Fraction(n_num * d_den, n_den * d_num)


def as_float(value: Fraction | None, places: int = 4) -> float | None:
    return None if value is None else round(float(value), places)


def yellow_margin() -> Fraction:
    """The setting CRM_TARGET_YELLOW_MARGIN (0.10), exactly."""
    return Fraction(str(current_app.config["CRM_TARGET_YELLOW_MARGIN"]))


def target_colour(attainment: Fraction | None, progress: Fraction,
                  margin: Fraction | None = None) -> str | None:
    """蓝 a ≥ p; 黄 p − margin ≤ a < p; 红 a < p − margin (margin: CRM_TARGET_YELLOW_MARGIN)."""
    if attainment is None:
        return None
    if margin is None:
        margin = yellow_margin()
    if attainment >= progress:
        return "blue"
    if attainment >= progress - margin:
        return "yellow"
    return "red"


@dataclass
class TargetResult:
    metric: str
    target: Decimal
    #: A count or an amount (Decimal); for a rate metric an exact rate (None: no projects).
    actual: Decimal | Fraction | None
    attainment: Fraction | None
    color: str | None
    #: 完成时限 (None: the year's end). A rate target past it is judged on its value that day.
    due_on: dt.date | None = None
    #: A rate target whose due date has passed: ``actual`` is its rate on that date, kept.
    frozen: bool = False

    @property
    def is_rate(self) -> bool:
        return self.metric in RATE_METRICS


@dataclass
class UnitStats:
    township_id: int
    name: str
    kind: str
    snapshot: dict = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    entered: dict = field(default_factory=lambda: dict.fromkeys(ORDERED_STAGES, 0))
    reached: dict = field(default_factory=lambda: dict.fromkeys(ORDERED_STAGES, 0))
    velocity: dict = field(default_factory=lambda: {f"{a}_{b}": None for a, b in STEPS})
    actuals: dict = field(default_factory=lambda: dict.fromkeys(COUNT_METRICS, Decimal(0)))
    start_rate: Fraction | None = None
    stats_inclusion_rate: Fraction | None = None
    funds_arrival_rate: Fraction | None = None
    #: 开工率 and 纳统率 of the unit's key projects (the rate metrics' actuals).
    key_start_rate: Fraction | None = None
    key_stats_inclusion_rate: Fraction | None = None
    targets: list[TargetResult] = field(default_factory=list)
    mean_attainment: Fraction | None = None
    #: Its place among the units with targets; None: no target, not ranked (未设目标).
    rank: int | None = None
    #: Claims still pending (待核验) whose effective date is in the year up to the as-of date:
    #: counts per milestone and the capital amount (万元). Zero on the ``claimed`` basis, where
    #: every claim already counts.
    pending: dict = field(default_factory=no_pending)

    def actual(self, metric: str):
        """The unit's figure for a metric as of the date, with or without a target: a count or
        an amount, or a rate of its key projects (None: no projects to rate)."""
        if metric in RATE_OF:
            return getattr(self, RATE_OF[metric])
        return self.actuals[metric]

    def target_of(self, metric: str) -> "TargetResult | None":
        return next((t for t in self.targets if t.metric == metric), None)

    @property
    def conversion(self) -> dict:
        steps = {f"{a}_{b}": ratio(self.reached[b], self.reached[a]) for a, b in STEPS}
        steps["contact_producing"] = ratio(self.reached["producing"], self.reached["contact"])
        return steps


@dataclass
class DistrictStats:
    year: int
    as_of: dt.date
    time_progress: Fraction
    units: list[UnitStats]

    def unit(self, township_id: int) -> UnitStats | None:
        return next((u for u in self.units if u.township_id == township_id), None)

    @property
    def totals(self) -> UnitStats:
        """All units added up (rates and attainment are not additive: left None)."""
        total = UnitStats(0, "", "")
        for unit in self.units:
            for name in TOTALS:
                mine = getattr(total, name)
                for key, value in getattr(unit, name).items():
                    mine[key] += value
        return total


@dataclass
class Ranking:
    """One page of the district's ranking: its units in full (with their rank among all), how
    many units there are, and every unit added up."""

    year: int
    as_of: dt.date
    time_progress: Fraction
    units: list[UnitStats]
    page: int
    pages: int
    total: int
    totals: UnitStats
    metrics: list[str]


class Ranked:
    """A unit as ranking needs it (``rank_units``), without its full ``UnitStats``; ``value``
    is whatever the caller carries along with it (e.g. the unit's text in an answer)."""

    __slots__ = ("township_id", "name", "mean_attainment", "value", "rank")

    def __init__(self, township_id: int, name: str, mean_attainment: Fraction | None,
                 value=None):
        self.township_id, self.name, self.mean_attainment = township_id, name, mean_attainment
        self.value, self.rank = value, 0


def rank_units(units: list) -> list:
    """By mean attainment, highest first (ties share a rank, then by name); units without
    targets last, by name, and not ranked (rank None: 未设目标).

    Sorted by (float, exact) pairs: rounding to float never reverses an order, and equal
    floats fall back to the exact values.
    """
    by_name = sorted(units, key=lambda u: u.name)
    with_targets = sorted((u for u in by_name if u.mean_attainment is not None),
                          key=lambda u: (float(u.mean_attainment), u.mean_attainment),
                          reverse=True)
    without = [u for u in by_name if u.mean_attainment is None]
    previous, rank = None, 0
    for position, unit in enumerate(with_targets, start=1):
        if unit.mean_attainment != previous:
            rank, previous = position, unit.mean_attainment
        unit.rank = rank
    for unit in without:
        unit.rank = None
    return with_targets + without


# -- the exact record of a unit's results --------------------------------------------------------

def _number(value):
    return str(value) if isinstance(value, Decimal) else value


def _unnumber(value):
    return Decimal(value) if isinstance(value, str) else value


def _pair(value: Fraction | None):
    return None if value is None else [value.numerator, value.denominator]


def _actual(value):
    """A target's actual as a JSON value: a rate as a pair, an amount as a string."""
    return _pair(value) if isinstance(value, Fraction) else _number(value)


def _unactual(value):
    return Fraction(*value) if isinstance(value, list) else _unnumber(value)


def _fraction(pair) -> Fraction | None:
    return None if pair is None else Fraction(*pair)


def to_record(unit: UnitStats) -> dict:
    """A ``UnitStats``'s numbers, targets and rates as JSON values, exactly (not its id, name,
    kind and rank: those are the unit's, not its results)."""
    return {
        **{name: getattr(unit, name) for name in COUNTS},
        "actuals": {k: _number(v) for k, v in unit.actuals.items()},
        "pending": {k: _number(v) for k, v in unit.pending.items()},
        **{name: _pair(getattr(unit, name)) for name in RATES},
        "targets": [[t.metric, str(t.target), _actual(t.actual), _pair(t.attainment), t.color,
                     t.due_on.isoformat() if t.due_on else None, t.frozen]
                    for t in unit.targets],
    }


def from_record(record: dict, unit: UnitStats) -> UnitStats:
    """Fill ``unit`` (a fresh ``UnitStats``) from ``to_record``'s values; ``unit`` back."""
    for name in COUNTS:
        setattr(unit, name, record[name])
    unit.actuals = {k: _unnumber(v) for k, v in record["actuals"].items()}
    unit.pending = {k: _unnumber(v) for k, v in record["pending"].items()}
    for name in RATES:
        setattr(unit, name, _fraction(record[name]))
    unit.targets = [
        TargetResult(metric, Decimal(target), _unactual(actual), _fraction(a), colour,
                     dt.date.fromisoformat(due) if due else None, frozen)
        for metric, target, actual, a, colour, due, frozen in record["targets"]]
    return unit


def total_keys() -> list[tuple[str, str]]:
    """(dict, key) of every number a district's totals add up, in ``totals_of`` order."""
    blank = UnitStats(0, "", "")
    return [(name, key) for name in TOTALS for key in getattr(blank, name)]


def totals_of(unit: UnitStats) -> list:
    """The numbers of a unit that a district's totals add up (``DistrictStats.totals``), in
    ``total_keys`` order: counts as ints, amounts of 万元 as exact strings."""
    return [str(getattr(unit, name)[key]) if key in AMOUNTS else int(getattr(unit, name)[key])
            for name, key in total_keys()]


def add_totals(total: UnitStats, rows: list[list]) -> None:
    """Add up ``totals_of``'s rows into ``total``, a column at a time."""
    for (name, key), column in zip(total_keys(), zip(*rows, strict=True), strict=True):
        getattr(total, name)[key] += (sum(map(Decimal, column)) if key in AMOUNTS
                                      else sum(column))
