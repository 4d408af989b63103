"""The statistics of DOMAIN.md as SQL aggregates, for any year and as-of date.

Every function takes the user, so a head's numbers only ever cover their unit, and runs a fixed
number of grouped queries whatever the number of leads. ``district_stats`` assembles them;
pages, the API, the bulletin and the mail all read it.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import User
from crm.auth.permissions import scope_leads, visible_townships
from crm.extensions import db
from crm.leads.models import FundEntry, Lead, StageChange
from crm.leads.pipeline import ACTIVE_STAGES, STAGE_RANK, STAGES
from crm.stats.sql import days_between, median_by
from crm.targets.models import METRICS, Target
from crm.visits.models import Visit

STEPS = tuple(zip(ACTIVE_STAGES, ACTIVE_STAGES[1:], strict=False))
SCALE_100M, SCALE_1B, SCALE_5B = 10_000, 100_000, 500_000


def time_progress(year: int, as_of: dt.date) -> Fraction:
    """Days from 1 January to ``as_of``, both counted, over the days of the year."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    day = min(max(as_of, start - dt.timedelta(days=1)), end)
    return Fraction((day - start).days + 1, (end - start).days + 1)


def ratio(numerator, denominator) -> Fraction | None:
    """An exact rate, or None for a zero denominator."""
    if not denominator:
        return None
    return Fraction(Decimal(numerator or 0)) / Fraction(Decimal(denominator))


def target_colour(attainment: Fraction | None, progress: Fraction) -> str | None:
    """蓝 a ≥ p; 黄 p − margin ≤ a < p; 红 a < p − margin (margin: CRM_TARGET_YELLOW_MARGIN)."""
    if attainment is None:
        return None
    margin = Fraction(str(current_app.config["CRM_TARGET_YELLOW_MARGIN"]))
    if attainment >= progress:
        return "blue"
    if attainment >= progress - margin:
        return "yellow"
    return "red"


@dataclass
class TargetResult:
    metric: str
    target: Decimal
    actual: Decimal
    attainment: Fraction | None
    color: str | None


@dataclass
class UnitStats:
    township_id: int
    name: str
    kind: str
    snapshot: dict = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    entered: dict = field(default_factory=lambda: dict.fromkeys(ACTIVE_STAGES, 0))
    reached: dict = field(default_factory=lambda: dict.fromkeys(ACTIVE_STAGES, 0))
    velocity: dict = field(default_factory=lambda: {f"{a}_{b}": None for a, b in STEPS})
    actuals: dict = field(default_factory=lambda: dict.fromkeys(METRICS, Decimal(0)))
    start_rate: Fraction | None = None
    stats_inclusion_rate: Fraction | None = None
    funds_arrival_rate: Fraction | None = None
    targets: list[TargetResult] = field(default_factory=list)
    mean_attainment: Fraction | None = None
    rank: int = 0

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
            for name in ("snapshot", "entered", "reached", "actuals"):
                mine = getattr(total, name)
                for key, value in getattr(unit, name).items():
                    mine[key] += value
        return total


class _Scope:
    """The leads counted: visible to the user, optionally one industry, some units."""

    def __init__(self, user: User, industry: str | None, township_ids):
        self.user, self.industry, self.township_ids = user, industry, township_ids

    def __call__(self, stmt: sa.Select) -> sa.Select:
        stmt = scope_leads(stmt, self.user)
        if self.industry:
            stmt = stmt.where(Lead.industry == self.industry)
        if self.township_ids is not None:
            stmt = stmt.where(Lead.township_id.in_(self.township_ids))
        return stmt


def first_entries(as_of: dt.date) -> sa.Subquery:
    """(lead_id, stage, first_on): each lead's first entry into each active stage by ``as_of``."""
    return (
        sa.select(StageChange.lead_id, StageChange.to_stage.label("stage"),
                  sa.func.min(StageChange.effective_on).label("first_on"))
        .where(StageChange.to_stage.in_(ACTIVE_STAGES), StageChange.effective_on <= as_of)
        .group_by(StageChange.lead_id, StageChange.to_stage)
        .subquery("first_entries")
    )


def district_stats(user: User, year: int, as_of: dt.date, *, industry: str | None = None,
                   township_ids=None) -> DistrictStats:
    """Every statistic for every unit the user may see, ranked."""
    start = dt.date(year, 1, 1)
    end = min(as_of, dt.date(year, 12, 31))
    scope = _Scope(user, industry, township_ids)
    townships = db.session.scalars(visible_townships(user)).all()
    if township_ids is not None:
        townships = [t for t in townships if t.id in set(township_ids)]
    units = {t.id: UnitStats(t.id, t.name, t.kind) for t in townships}

    def each(rows):
        for row in rows:
            if row[0] in units:
                yield units[row[0]], row[1:]

    for unit, (stage, n) in each(db.session.execute(_snapshot(scope, as_of))):
        unit.snapshot[stage] = n
    fe = first_entries(as_of)
    for unit, (stage, n, n100m, n1b, n5b, invest) in each(
            db.session.execute(_entered(scope, fe, start, end))):
        unit.entered[stage] = n
        if stage == "signed":
            unit.actuals.update(signed_100m=n100m, signed_1b=n1b, signed_5b=n5b,
                                signed_investment_wan=invest or Decimal(0))
        elif stage == "started":
            unit.actuals["started_100m"] = n100m
        elif stage == "producing":
            unit.actuals["producing"] = n
    for unit, reached in each(db.session.execute(_reached(scope, start, end, as_of))):
        unit.reached.update(zip(ACTIVE_STAGES, (r or 0 for r in reached), strict=True))
    for unit, (step, median) in each(db.session.execute(_velocity(scope, fe, start, end))):
        unit.velocity[step] = None if median is None else round(median, 1)
    for unit, (n, started) in each(db.session.execute(_start_rate(scope, fe, start, end))):
        unit.start_rate = ratio(started, n)
    for unit, (n, included) in each(db.session.execute(_inclusion(scope, fe, as_of))):
        unit.stats_inclusion_rate = ratio(included, n)
    for unit, (invest, arrived) in each(db.session.execute(_funds_rate(scope, fe, as_of))):
        unit.funds_arrival_rate = ratio(arrived, invest)
    for unit, (n,) in each(db.session.execute(_counted(scope, Lead.created_on, start, end))):
        unit.actuals["new_leads"] = n
    for unit, (n,) in each(db.session.execute(_visits(scope, start, end))):
        unit.actuals["visits"] = n
    for unit, (amount,) in each(db.session.execute(_funds_arrived(scope, start, end))):
        unit.actuals["funds_arrived_wan"] = amount or Decimal(0)

    progress = time_progress(year, as_of)
    targets = db.session.scalars(
        sa.select(Target).where(Target.year == year, Target.township_id.in_(list(units)))
        .order_by(Target.township_id, Target.id)
    )
    for target in targets:
        unit = units[target.township_id]
        actual = Decimal(unit.actuals[target.metric])
        attainment = ratio(actual, target.value)
        unit.targets.append(TargetResult(target.metric, target.value, actual, attainment,
                                         target_colour(attainment, progress)))
    ranked = rank_units(list(units.values()))
    return DistrictStats(year, as_of, progress, ranked)


def rank_units(units: list[UnitStats]) -> list[UnitStats]:
    """By mean attainment, highest first (ties share a rank, then by name); no targets last."""
    for unit in units:
        values = [t.attainment for t in unit.targets if t.attainment is not None]
        unit.mean_attainment = sum(values) / len(values) if values else None
    with_targets = sorted((u for u in units if u.mean_attainment is not None),
                          key=lambda u: (-u.mean_attainment, u.name))
    without = sorted((u for u in units if u.mean_attainment is None), key=lambda u: u.name)
    previous, rank = None, 0
    for position, unit in enumerate(with_targets, start=1):
        if unit.mean_attainment != previous:
            rank, previous = position, unit.mean_attainment
        unit.rank = rank
    for position, unit in enumerate(without, start=len(with_targets) + 1):
        unit.rank = position
    return with_targets + without


# The grouped queries; each answers (township_id, …) rows.

def _snapshot(scope, as_of):
    latest = _latest_changes(as_of)
    return scope(
        sa.select(Lead.township_id, latest.c.to_stage, sa.func.count())
        .join(latest, latest.c.lead_id == Lead.id)
        .where(latest.c.rn == 1)
        .group_by(Lead.township_id, latest.c.to_stage)
    )


def _at_least(threshold):
    return sa.func.sum(sa.case((Lead.investment_wan >= threshold, 1), else_=0))


def _entered(scope, fe, start, end):
    return scope(
        sa.select(Lead.township_id, fe.c.stage, sa.func.count(),
                  _at_least(SCALE_100M), _at_least(SCALE_1B), _at_least(SCALE_5B),
                  sa.func.sum(Lead.investment_wan))
        .join(fe, fe.c.lead_id == Lead.id)
        .where(fe.c.first_on.between(start, end))
        .group_by(Lead.township_id, fe.c.stage)
    )


def _reached(scope, start, end, as_of):
    """Cohort: leads created in the period; reached(S) = furthest active stage ≥ S."""
    rank = sa.case(*[(StageChange.to_stage == s, r) for s, r in STAGE_RANK.items()])
    furthest = (
        sa.select(StageChange.lead_id, sa.func.max(rank).label("furthest"))
        .where(StageChange.to_stage.in_(ACTIVE_STAGES), StageChange.effective_on <= as_of)
        .group_by(StageChange.lead_id)
        .subquery()
    )
    counts = [sa.func.sum(sa.case((furthest.c.furthest >= r, 1), else_=0))
              for r in range(len(ACTIVE_STAGES))]
    return scope(
        sa.select(Lead.township_id, *counts)
        .join(furthest, furthest.c.lead_id == Lead.id)
        .where(Lead.created_on.between(start, end))
        .group_by(Lead.township_id)
    )


def _velocity(scope, fe, start, end):
    """Median days from entering a stage to entering the next, over the next stage's entries
    in the period."""
    parts = []
    for a, b in STEPS:
        fa, fb = fe.alias(f"fe_{a}"), fe.alias(f"fe_{b}")
        parts.append(scope(
            sa.select(Lead.township_id.label("township_id"), sa.literal(f"{a}_{b}").label("step"),
                      days_between(fb.c.first_on, fa.c.first_on).label("days"))
            .join(fa, sa.and_(fa.c.lead_id == Lead.id, fa.c.stage == a))
            .join(fb, sa.and_(fb.c.lead_id == Lead.id, fb.c.stage == b))
            .where(fb.c.first_on.between(start, end))
        ))
    values = sa.union_all(*parts).subquery()
    return median_by(values, ["township_id", "step"], "days")


def _start_rate(scope, fe, start, end):
    started = fe.alias("fe_started")
    return scope(
        sa.select(Lead.township_id, sa.func.count(Lead.id),
                  sa.func.sum(sa.case((started.c.first_on.is_not(None), 1), else_=0)))
        .outerjoin(started, sa.and_(started.c.lead_id == Lead.id, started.c.stage == "started"))
        .where(Lead.planned_start_date.between(start, end))
        .group_by(Lead.township_id)
    )


def _inclusion(scope, fe, as_of):
    return scope(
        sa.select(Lead.township_id, sa.func.count(Lead.id),
                  sa.func.sum(sa.case((Lead.stats_included_on <= as_of, 1), else_=0)))
        .join(fe, sa.and_(fe.c.lead_id == Lead.id, fe.c.stage == "started"))
        .group_by(Lead.township_id)
    )


def _funds_rate(scope, fe, as_of):
    arrived = (
        sa.select(FundEntry.lead_id, sa.func.sum(FundEntry.amount_wan).label("amount"))
        .where(FundEntry.arrived_on <= as_of)
        .group_by(FundEntry.lead_id)
        .subquery()
    )
    return scope(
        sa.select(Lead.township_id, sa.func.sum(Lead.investment_wan),
                  sa.func.sum(sa.func.coalesce(arrived.c.amount, 0)))
        .join(fe, sa.and_(fe.c.lead_id == Lead.id, fe.c.stage == "signed"))
        .outerjoin(arrived, arrived.c.lead_id == Lead.id)
        .group_by(Lead.township_id)
    )


def _counted(scope, column, start, end):
    return scope(
        sa.select(Lead.township_id, sa.func.count(Lead.id))
        .where(column.between(start, end))
        .group_by(Lead.township_id)
    )


def _visits(scope, start, end):
    return scope(
        sa.select(Lead.township_id, sa.func.count(Visit.id))
        .join(Visit, Visit.lead_id == Lead.id)
        .where(Visit.visited_on.between(start, end))
        .group_by(Lead.township_id)
    )


def _funds_arrived(scope, start, end):
    return scope(
        sa.select(Lead.township_id, sa.func.sum(FundEntry.amount_wan))
        .join(FundEntry, FundEntry.lead_id == Lead.id)
        .where(FundEntry.arrived_on.between(start, end))
        .group_by(Lead.township_id)
    )


def as_float(value: Fraction | None, places: int = 4) -> float | None:
    return None if value is None else round(float(value), places)


def lead_ids_behind(user: User, metric: str, township_id: int, year: int, as_of: dt.date):
    """The drill-down: a SELECT of the lead ids behind one number (for the lead list)."""
    start, end = dt.date(year, 1, 1), min(as_of, dt.date(year, 12, 31))
    scope = _Scope(user, None, [township_id])
    fe = first_entries(as_of)
    entered = {"signed_100m": ("signed", SCALE_100M), "signed_1b": ("signed", SCALE_1B),
               "signed_5b": ("signed", SCALE_5B), "started_100m": ("started", SCALE_100M),
               "producing": ("producing", 0), "signed_investment_wan": ("signed", 0)}
    entered.update({f"entered_{s}": (s, 0) for s in ACTIVE_STAGES})
    if metric in entered:
        stage, threshold = entered[metric]
        return scope(sa.select(Lead.id).join(fe, fe.c.lead_id == Lead.id).where(
            fe.c.stage == stage, fe.c.first_on.between(start, end),
            Lead.investment_wan >= threshold))
    if metric == "new_leads":
        return scope(sa.select(Lead.id).where(Lead.created_on.between(start, end)))
    if metric.startswith("snapshot_"):
        stage = metric.removeprefix("snapshot_")
        latest = _latest_changes(as_of)
        return scope(sa.select(Lead.id).join(latest, latest.c.lead_id == Lead.id).where(
            latest.c.rn == 1, latest.c.to_stage == stage))
    return None


def _latest_changes(as_of):
    """Each lead's stage changes by ``as_of``, ``rn`` 1 for the one in force at its end."""
    return (
        sa.select(StageChange.lead_id, StageChange.to_stage,
                  sa.func.row_number().over(
                      partition_by=StageChange.lead_id,
                      order_by=(StageChange.effective_on.desc(), StageChange.id.desc()),
                  ).label("rn"))
        .where(StageChange.effective_on <= as_of)
        .subquery()
    )

