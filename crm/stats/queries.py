"""Computing the statistics as SQL aggregates, for any year and as-of date, into the typed
results of ``crm.stats.results``.

Every function takes the user, so a head's numbers only ever cover their unit, and runs a fixed
number of grouped queries whatever the number of leads. ``district_stats`` assembles them;
pages, the API, the bulletin and the mail all read it.
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa

from crm.auth.models import DISTRICT_ADMIN, User
from crm.auth.permissions import counted_leads, visible_townships
from crm.claims.models import STAGE_CLAIMS, Claim
from crm.extensions import db
from crm.industries.queries import industry_condition
from crm.leads.models import FundEntry, Lead, StageChange
from crm.leads.pipeline import ORDERED_STAGES, SCALE_CLASSES, STAGE_RANK
from crm.stats import cache, versions
from crm.stats.results import (
    BASES,
    PENDING_KINDS,
    RATE_OF,
    STEPS,
    DistrictStats,
    Ranked,
    Ranking,
    TargetResult,
    UnitStats,
    add_totals,
    default_basis,
    from_record,
    progress_to,
    rank_units,
    rate_colour,
    ratio,
    target_colour,
    time_progress,
    totals_of,
    yellow_margin,
)
from crm.stats.sql import days_between, median_by, no_index, temporary_table
from crm.targets.models import METRICS, RATE_METRICS, Target
from crm.townships.models import Township
from crm.visits.models import Visit

__all__ = [  # the results' names, also read from here
    "BASES", "default_basis", "STEPS", "DistrictStats", "Ranking", "TargetResult", "UnitStats", "rank_units",
    "target_colour", "time_progress", "yellow_margin",
]


def visible_units(user: User, township_ids=None) -> list:
    """(id, name, kind) of the units the user may see, optionally only ``township_ids``."""
    townships = db.session.execute(
        visible_townships(user).with_only_columns(Township.id, Township.name, Township.kind)
    ).all()
    if township_ids is not None:
        chosen = set(township_ids)
        townships = [t for t in townships if t.id in chosen]
    return townships


def district_ranking(user: User, year: int, as_of: dt.date, page: int | None, per_page: int,
                     *, industry: str | None = None, basis: str | None = None) -> Ranking:
    """A page of ``district_stats``'s ranking without building every unit in full.

    Ranks and totals come from each unit's mean attainment and countable numbers (the cache's
    small columns, or computed for the units it lacks); only the page's units are read in full.
    """
    basis = basis or default_basis()
    if industry is not None:
        stats = district_stats(user, year, as_of, industry=industry, basis=basis)
        ranked, totals, full = stats.units, stats.totals, True
    else:
        townships = visible_units(user)
        current = versions.current([t.id for t in townships])
        margin = yellow_margin()
        computed: dict[int, UnitStats] = {}
        kept = cache.ranking(townships, current, year, as_of, margin, basis)
        if kept is not None:  # no unit changed since this ranking was made
            ranked, totals = kept
        else:
            found = cache.load_summary(current, year, as_of, margin, basis)
            missing = [t.id for t in townships if t.id not in found]
            if missing:
                for u in district_stats(user, year, as_of, township_ids=missing,
                                        basis=basis).units:
                    found[u.township_id] = (u.mean_attainment, totals_of(u))
                    computed[u.township_id] = u  # (not stored for an as-of date out of the window)
            ranked = rank_units([Ranked(t.id, t.name, found[t.id][0]) for t in townships])
            totals = UnitStats(0, "", "")
            if found:
                add_totals(totals, [values for _mean, values in found.values()])
            cache.keep_ranking(townships, current, year, as_of, margin, basis, ranked, totals)
        full = False
    pages = max(1, -(-len(ranked) // per_page))
    page = min(max(page or 1, 1), pages)
    items = ranked[(page - 1) * per_page:page * per_page]
    if not full and items:
        by_id = {u.township_id: computed[u.township_id] for u in items
                 if u.township_id in computed}
        rest = [u.township_id for u in items if u.township_id not in by_id]
        if rest:
            by_id.update((u.township_id, u)
                         for u in district_stats(user, year, as_of, township_ids=rest,
                                                 basis=basis).units)
        for unit in items:
            by_id[unit.township_id].rank = unit.rank
        items = [by_id[u.township_id] for u in items]
    metrics = set(db.session.scalars(
        sa.select(Target.metric).distinct().where(
            Target.year == year,
            Target.township_id.in_(visible_townships(user).with_only_columns(Township.id)))))
    return Ranking(year, as_of, time_progress(year, as_of), items, page, pages, len(ranked),
                   totals, [m for m in METRICS if m in metrics])


class _Scope:
    """The leads counted: visible to the user and counted (not disputed, not merged:
    ``counted_leads``), optionally one industry, some units; and what
    their milestones count (``basis``: ``verified`` claims only, or every ``claimed`` one)."""

    def __init__(self, user: User, industry: str | None, township_ids, basis: str = "claimed"):
        self.user, self.industry, self.township_ids = user, industry, township_ids
        self.basis = basis

    @property
    def verified(self) -> bool:
        return self.basis == "verified"

    def __call__(self, stmt: sa.Select) -> sa.Select:
        stmt = counted_leads(stmt, self.user)
        if self.industry:
            stmt = stmt.where(industry_condition(self.industry))
        if self.township_ids is not None:
            stmt = stmt.where(Lead.township_id.in_(self.township_ids))
        return stmt


def first_entries(as_of: dt.date, lead_ids: sa.Select | None = None,
                  stages=ORDERED_STAGES, basis: str = "claimed") -> sa.Subquery:
    """(lead_id, stage, first_on): each lead's first entry into each of ``stages`` by ``as_of``,
    for the leads ``lead_ids`` selects (all leads when None: name them, one unit's page must not
    group a whole province's history). On the verified basis an entry into signed, started or
    producing is the earliest effective date of the lead's claims of it that count for
    ``as_of`` (``counts``)."""
    claimed = [s for s in stages if basis != "verified" or s not in STAGE_CLAIMS]
    verified = [s for s in stages if s not in claimed]
    parts = []
    if claimed:
        stmt = (
            sa.select(StageChange.lead_id, StageChange.to_stage.label("stage"),
                      sa.func.min(StageChange.effective_on).label("first_on"))
            .where(StageChange.to_stage.in_(claimed), StageChange.effective_on <= as_of)
            .group_by(StageChange.lead_id, StageChange.to_stage)
        )
        if lead_ids is not None:
            stmt = stmt.where(StageChange.lead_id.in_(lead_ids))
        parts.append(stmt)
    if verified:
        stmt = (
            sa.select(Claim.lead_id, Claim.kind.label("stage"),
                      sa.func.min(Claim.effective_on).label("first_on"))
            .where(Claim.kind.in_(verified), counts(as_of), Claim.effective_on <= as_of)
            .group_by(Claim.lead_id, Claim.kind)
        )
        if lead_ids is not None:
            stmt = stmt.where(Claim.lead_id.in_(lead_ids))
        parts.append(stmt)
    stmt = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    return stmt.subquery("first_entries")


def district_stats(user: User, year: int, as_of: dt.date, *, industry: str | None = None,
                   township_ids=None, basis: str | None = None) -> DistrictStats:
    """Every statistic for every unit the user may see, ranked, on ``basis`` (the setting
    CRM_VERIFICATION's when None: ``results.default_basis``).

    Without an industry filter a unit's numbers (and its targets' attainment and colours) come
    from the cache (``crm.stats.cache``) while none of its leads and targets has changed; the
    others are computed by ``_compute`` (the per-lead facts once into a temporary table, then
    seven grouped queries, whatever the number of leads and units) and the targets query.
    """
    townships = visible_units(user)
    if township_ids is not None:
        chosen = set(township_ids)
        named = [t for t in townships if t.id in chosen]
        if len(named) < len(townships) or len(named) <= versions.IN_LIST:
            townships = named
        else:  # every unit the user sees (the API names them): no list of ids in every statement
            township_ids = None
    units = {t.id: UnitStats(t.id, t.name, t.kind) for t in townships}
    progress, margin = time_progress(year, as_of), yellow_margin()
    basis = basis or default_basis()
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}")

    missing = list(units)
    if industry is None and units:
        current = versions.current(list(units))
        found = cache.load(current, year, as_of, margin, basis)
        for township_id, record in found.items():
            from_record(record, units[township_id])
        missing = [i for i in units if i not in found]
    if missing:
        everything = len(missing) == len(units)
        scope = _Scope(user, industry, township_ids if everything else missing, basis)
        fresh = {i: units[i] for i in missing}
        _compute(fresh, scope, year, as_of)
        _attach_targets(fresh, None if everything and township_ids is None else missing,
                        year, as_of, margin, scope)
        if industry is None:
            cache.store([units[i] for i in missing], year, as_of, current, margin, basis)
    return DistrictStats(year, as_of, progress, rank_units(list(units.values())))


def _attach_targets(units: dict[int, UnitStats], township_ids, year: int, as_of: dt.date,
                    margin: Fraction, scope: "_Scope") -> None:
    """The units' targets for the year, each with its actual, attainment and colour, and the
    units' mean attainment.

    A count or amount is measured against time progress (to its due date when it has one). A
    rate target (its unit's key projects' 开工率 or 纳统率) is measured against the target itself;
    once its due date has passed, on the rate as of that day (one grouped query per distinct
    due date passed: a handful, whatever the number of leads)."""
    stmt = (sa.select(Target.township_id, Target.metric, Target.value, Target.due_on)
            .where(Target.year == year).order_by(Target.township_id, Target.id))
    if township_ids is not None:
        stmt = stmt.where(Target.township_id.in_(township_ids))
    rows = [row for row in db.session.execute(stmt) if row.township_id in units]
    passed = sorted({row.due_on for row in rows
                     if row.metric in RATE_METRICS and row.due_on is not None
                     and row.due_on < as_of})
    on_due = {day: _key_rates(scope, year, day) for day in passed}
    progress_of: dict = {}  # by due date: 13,000 targets share a handful
    for township_id, metric, value, due_on in rows:
        unit = units[township_id]
        if metric in RATE_METRICS:
            frozen = due_on is not None and due_on < as_of
            if frozen:
                actual = on_due[due_on].get(township_id, {}).get(RATE_OF[metric])
            else:
                actual = getattr(unit, RATE_OF[metric])
            goal = ratio(value, 1)
            attainment = None if actual is None or not goal else actual / goal
            unit.targets.append(TargetResult(metric, value, actual, attainment,
                                             rate_colour(actual, value, margin), due_on, frozen))
            continue
        actual = Decimal(unit.actuals[metric])
        attainment = ratio(actual, value)
        progress = progress_of.get(due_on)
        if progress is None:
            progress = progress_of[due_on] = progress_to(year, as_of, due_on)
        unit.targets.append(TargetResult(metric, value, actual, attainment,
                                         target_colour(attainment, progress, margin), due_on))
    for unit in units.values():
        values = [t.attainment for t in unit.targets if t.attainment is not None]
        unit.mean_attainment = sum(values) / len(values) if values else None


def _compute(units: dict[int, UnitStats], scope: _Scope, year: int, as_of: dt.date) -> None:
    """The numbers of ``units`` from the leads in ``scope``, in SQL."""
    start = dt.date(year, 1, 1)
    end = min(as_of, dt.date(year, 12, 31))

    def each(rows):
        for row in rows:
            if row[0] in units:
                yield units[row[0]], row[1:]

    # The per-lead facts once, for the three statements that read them all (not three times).
    with temporary_table(db.session.connection(), "stats_facts", lead_facts(scope, as_of),
                         index="lead_id") as facts:
        for unit, (stage, n) in each(db.session.execute(_snapshot(scope, as_of, facts))):
            unit.snapshot[stage] = int(n)
        arrived = dict(db.session.execute(_signed_arrived(scope, as_of, facts)).all())
        for row in db.session.execute(_per_unit(scope, start, end, as_of, facts)).mappings():
            if row["township_id"] in units:
                _apply_per_unit(units[row["township_id"]], row, arrived.get(row["township_id"]))
        for unit, (step, median) in each(
                db.session.execute(_velocity(scope, start, end, as_of, facts))):
            unit.velocity[step] = None if median is None else round(float(median), 1)
    for unit, (n,) in each(db.session.execute(_visits(scope, start, end))):
        unit.actuals["visits"] = int(n)
    for unit, (amount,) in each(db.session.execute(_funds_arrived(scope, start, end, as_of))):
        unit.actuals["funds_arrived_wan"] = amount or Decimal(0)
    if scope.verified:
        for unit, (*counts, amount) in each(db.session.execute(_pending(scope, start, end))):
            unit.pending = {**{k: int(n or 0) for k, n in zip(PENDING_KINDS, counts, strict=True)},
                            "funds_wan": amount or Decimal(0)}


def _apply_per_unit(unit: UnitStats, row, signed_arrived) -> None:
    """One unit's row of ``_per_unit`` (and the capital arrived of its signed leads:
    ``_signed_arrived``) into its numbers."""
    for stage in ORDERED_STAGES:
        unit.entered[stage] = int(row[f"entered_{stage}"] or 0)
        unit.reached[stage] = int(row[f"reached_{stage}"] or 0)
    if unit.entered["signed"]:
        unit.actuals.update(
            signed_100m=int(row["signed_100m"]), signed_1b=int(row["signed_1b"]),
            signed_5b=int(row["signed_5b"]),
            signed_investment_wan=row["signed_investment"] or Decimal(0))
    if unit.entered["started"]:
        unit.actuals["started_100m"] = int(row["started_100m"])
    if unit.entered["producing"]:
        unit.actuals["producing"] = unit.entered["producing"]
    unit.start_rate = ratio(row["started_planned"], row["planned_start"])
    if row["started"]:
        unit.stats_inclusion_rate = ratio(row["included"], row["started"])
    if row["signed"]:
        unit.funds_arrival_rate = ratio(signed_arrived, row["signed_investment_all"])
    unit.actuals["new_leads"] = int(row["new_leads"] or 0)
    unit.actuals["stats_included_investment_wan"] = row["stats_included_investment"] or Decimal(0)
    for name, value in _key_rates_of(row).items():
        setattr(unit, name, value)


# The grouped queries; each answers (township_id, …) rows.

def counts(as_of) -> sa.ColumnElement:
    """A claim counts for ``as_of`` on the verified basis: verified, on or before that day (at
    its effective date; a claim withdrawn later no longer counts)."""
    return sa.and_(no_index(Claim.status) == "verified", no_index(Claim.verified_on) <= as_of)


def counted_claims(scope, as_of) -> sa.Subquery:
    """(lead_id, signed_on, started_on, producing_on, stats_included_on): per lead in scope, the
    earliest effective date of its claims of each kind that count for ``as_of`` (NULL: none)."""
    firsts = [
        sa.func.min(sa.case((Claim.kind == kind, Claim.effective_on))).label(f"{kind}_on")
        for kind in (*STAGE_CLAIMS, "stats_included")
    ]
    return scope(
        sa.select(Claim.lead_id, *firsts)
        .join(Lead, Lead.id == Claim.lead_id)
        .where(counts(as_of), Claim.effective_on <= as_of,
               Claim.kind.in_((*STAGE_CLAIMS, "stats_included")))
        .group_by(Claim.lead_id)
    ).subquery("counted")


def lead_facts(scope, as_of) -> sa.Select:
    """One row per lead in scope: its unit and fields, its first entry into each active stage by
    ``as_of`` (``contact_on`` … ``producing_on``, NULL when not entered) and its 纳统 date
    (``stats_included_on``).

    On the claimed basis the entries are the stage changes' and the 纳统 date the lead's. On the
    verified basis contact and negotiation are still the stage changes', but signed, started,
    producing and 纳统 are the earliest effective dates of the lead's claims that count
    (``counts``): one grouped subquery joined once.

    One pass over the leads and their stage changes (the index on ``(lead_id, to_stage,
    effective_on)`` covers it), instead of a subquery per stage.
    """
    stages = ("contact", "negotiation") if scope.verified else ORDERED_STAGES
    firsts = [
        sa.func.min(sa.case(
            (sa.and_(StageChange.to_stage == stage, StageChange.effective_on <= as_of),
             StageChange.effective_on),
        )).label(f"{stage}_on")
        for stage in stages
    ]
    stmt = (sa.select(Lead.id.label("lead_id"), Lead.township_id, Lead.investment_wan,
                      Lead.created_on, Lead.planned_start_date, Lead.key_level, Lead.stage,
                      Lead.stage_changed_on, *firsts)
            .outerjoin(StageChange, StageChange.lead_id == Lead.id)
            .group_by(Lead.id))
    if scope.verified:
        counted = counted_claims(scope, as_of)
        stmt = stmt.outerjoin(counted, counted.c.lead_id == Lead.id).add_columns(
            *[sa.func.min(counted.c[f"{kind}_on"]).label(f"{kind}_on")
              for kind in (*STAGE_CLAIMS, "stats_included")])
    else:
        stmt = stmt.add_columns(Lead.stats_included_on)
    return scope(stmt)


def lead_stages(scope, as_of) -> sa.Subquery:
    """(lead_id, township_id, stage): each lead's stage at the end of ``as_of``.

    A lead whose last stage change is on or before ``as_of`` is in its current stage: every
    change is dated on or after the one before it (``check_effective_date``), so the latest by
    (date, id) is the one that set ``Lead.stage``. Only leads changed after ``as_of`` need their
    history searched. On the verified basis a lead in signed, started or producing stands at its
    furthest milestone among them (up to its stage) whose claim counts, else in negotiation.
    """
    current = scope(
        sa.select(Lead.id.label("lead_id"), Lead.township_id, Lead.stage.label("stage"))
        .where(Lead.stage_changed_on <= as_of)
    )
    latest = _latest_changes(as_of, changed_after=True)
    past = scope(
        sa.select(Lead.id.label("lead_id"), Lead.township_id, latest.c.to_stage.label("stage"))
        .join(latest, latest.c.lead_id == Lead.id)
        .where(latest.c.rn == 1)
    )
    both = sa.union_all(current, past).subquery("stages")
    if not scope.verified:
        return both
    counted = counted_claims(scope, as_of)
    return (sa.select(both.c.lead_id, both.c.township_id,
                      _standing(both.c.stage, counted.c).label("stage"))
            .outerjoin(counted, counted.c.lead_id == both.c.lead_id)
            .subquery("verified_stages"))


def _standing(stage, counted):
    """On the verified basis, the stage a lead in ``stage`` stands at given ``counted``'s
    ``signed_on``, ``started_on`` and ``producing_on`` (see ``lead_stages``)."""

    def at_least(milestone):
        return stage.in_([s for s in STAGE_CLAIMS if STAGE_RANK[s] >= STAGE_RANK[milestone]])

    return sa.case(
        (stage.not_in(STAGE_CLAIMS), stage),
        (sa.and_(at_least("producing"), counted.producing_on.is_not(None)), "producing"),
        (sa.and_(at_least("started"), counted.started_on.is_not(None)), "started"),
        (counted.signed_on.is_not(None), "signed"),
        else_="negotiation",
    )


def _fact_stages(scope, as_of, facts) -> sa.Subquery:
    """``lead_stages`` read from ``facts`` (``lead_facts``'s rows for ``scope`` and ``as_of``:
    each lead's stage, last change and counted milestones in one row, no join)."""
    f = facts.c
    milestones = [f.signed_on, f.started_on, f.producing_on] if scope.verified else []
    current = (sa.select(f.lead_id, f.township_id, f.stage.label("stage"), *milestones)
               .where(f.stage_changed_on <= as_of))
    latest = _latest_changes(as_of, changed_after=True)
    past = (sa.select(f.lead_id, f.township_id, latest.c.to_stage.label("stage"), *milestones)
            .join(latest, latest.c.lead_id == f.lead_id)
            .where(latest.c.rn == 1))
    both = sa.union_all(current, past).subquery("stages")
    if not scope.verified:
        return both
    return (sa.select(both.c.lead_id, both.c.township_id,
                      _standing(both.c.stage, both.c).label("stage"))
            .subquery("verified_stages"))


def _snapshot(scope, as_of, facts=None):
    """Each unit's leads by their stage at the end of ``as_of`` (``lead_stages``; from
    ``facts``, ``lead_facts``'s rows for this scope and day, when given)."""
    stages = lead_stages(scope, as_of) if facts is None else _fact_stages(scope, as_of, facts)
    return (sa.select(stages.c.township_id, stages.c.stage, sa.func.count())
            .group_by(stages.c.township_id, stages.c.stage))


def _signed_arrived(scope, as_of, facts) -> sa.Select:
    """Per unit, the capital arrived by ``as_of`` of its signed leads (``facts``: ``lead_facts``'s
    rows) that counts (on the verified basis: whose funds claim counts): the numerator of the
    capital-arrival rate, one grouped join (not a sum per lead inside ``_per_unit``)."""
    f = facts.c
    stmt = (sa.select(f.township_id, sa.func.sum(FundEntry.amount_wan))
            .join(FundEntry, FundEntry.lead_id == f.lead_id)
            .where(f.signed_on.is_not(None), FundEntry.arrived_on <= as_of)
            .group_by(f.township_id))
    if scope.verified:  # the lead's funds claims, by the (lead_id, kind) index
        stmt = stmt.where(FundEntry.id.in_(
            sa.select(Claim.fund_entry_id).where(Claim.lead_id == FundEntry.lead_id,
                                                 Claim.kind == "funds", counts(as_of))))
    return stmt


def _per_unit(scope, start, end, as_of, facts=None):
    """Per unit, from the per-lead facts (``facts``: ``lead_facts``'s rows, else computed here):
    entries in the period (and their scale classes and investment), the cohort's reach, the
    start and inclusion rates, the capital-arrival rate's denominator, the leads created and
    the capital arrived in the period."""
    if facts is None:
        facts = lead_facts(scope, as_of).subquery("facts")
    f = facts.c
    on = {stage: f[f"{stage}_on"] for stage in ORDERED_STAGES}
    in_period = {stage: on[stage].between(start, end) for stage in ORDERED_STAGES}
    created = f.created_on.between(start, end)

    def count(condition):
        return sa.func.sum(sa.case((condition, 1), else_=0))

    columns = [count(in_period[s]).label(f"entered_{s}") for s in ORDERED_STAGES]
    for rank_, stage in enumerate(ORDERED_STAGES):
        # furthest active stage ≥ this one: any of it and the stages after it was entered
        further = [on[s] for s in ORDERED_STAGES[rank_:]]
        reached = (further[0] if len(further) == 1 else sa.func.coalesce(*further)).is_not(None)
        columns.append(count(sa.and_(created, reached)).label(f"reached_{stage}"))
    signed = on["signed"].is_not(None)
    started = on["started"].is_not(None)
    investment = facts.c.investment_wan

    def signed_at_least(scale):
        return count(sa.and_(in_period["signed"], investment >= SCALE_CLASSES[scale]))

    columns += [
        signed_at_least("100m").label("signed_100m"),
        signed_at_least("1b").label("signed_1b"),
        signed_at_least("5b").label("signed_5b"),
        sa.func.sum(sa.case((in_period["signed"], investment))).label("signed_investment"),
        count(sa.and_(in_period["started"], investment >= SCALE_CLASSES["100m"]))
        .label("started_100m"),
        count(f.planned_start_date.between(start, end)).label("planned_start"),
        count(sa.and_(f.planned_start_date.between(start, end), started))
        .label("started_planned"),
        count(started).label("started"),
        count(sa.and_(started, f.stats_included_on <= as_of)).label("included"),
        count(signed).label("signed"),
        sa.func.sum(sa.case((signed, investment))).label("signed_investment_all"),
        count(created).label("new_leads"),
        sa.func.sum(sa.case((f.stats_included_on.between(start, end), investment)))
        .label("stats_included_investment"),
        *_key_rate_columns(f, start, end, as_of),
    ]
    return sa.select(f.township_id, *columns).group_by(f.township_id)


def _key_rate_columns(f, start, end, as_of) -> list:
    """The counts behind the key projects' (``key_level`` not ``none``) start and inclusion
    rates, over lead facts ``f``: as ``_per_unit``'s rates, restricted to key projects."""
    key = f.key_level != "none"
    started = f.started_on.is_not(None)
    planned = f.planned_start_date.between(start, end)

    def count(condition):
        return sa.func.sum(sa.case((condition, 1), else_=0))

    return [
        count(sa.and_(key, planned)).label("key_planned_start"),
        count(sa.and_(key, planned, started)).label("key_started_planned"),
        count(sa.and_(key, started)).label("key_started"),
        count(sa.and_(key, started, f.stats_included_on <= as_of)).label("key_included"),
    ]


def _key_rates_of(row) -> dict:
    rates = {"key_start_rate": ratio(row["key_started_planned"], row["key_planned_start"]),
             "key_stats_inclusion_rate": None}
    if row["key_started"]:
        rates["key_stats_inclusion_rate"] = ratio(row["key_included"], row["key_started"])
    return rates


def _key_rates(scope, year: int, as_of: dt.date) -> dict[int, dict]:
    """Per unit, the key projects' start and inclusion rates as of ``as_of`` (a passed due
    date): ``{township_id: {"key_start_rate": …, "key_stats_inclusion_rate": …}}``."""
    start, end = dt.date(year, 1, 1), min(as_of, dt.date(year, 12, 31))
    facts = lead_facts(scope, as_of).subquery("facts")
    stmt = (sa.select(facts.c.township_id, *_key_rate_columns(facts.c, start, end, as_of))
            .group_by(facts.c.township_id))
    return {row["township_id"]: _key_rates_of(row)
            for row in db.session.execute(stmt).mappings()}


def _velocity(scope, start, end, as_of, facts=None):
    """Median days from entering a stage to entering the next, over the next stage's entries
    in the period (``facts``: as ``_per_unit``'s)."""
    if facts is None:
        facts = lead_facts(scope, as_of).cte("facts")
    parts = []
    for a, b in STEPS:
        fa, fb = facts.c[f"{a}_on"], facts.c[f"{b}_on"]
        parts.append(
            sa.select(facts.c.township_id.label("township_id"),
                      sa.literal(f"{a}_{b}").label("step"),
                      days_between(fb, fa).label("days"))
            .where(fa.is_not(None), fb.between(start, end))
        )
    values = sa.union_all(*parts).subquery()
    return median_by(values, ["township_id", "step"], "days")


def _funds_arrived(scope, start, end, as_of):
    """Capital arrived in the period (on the verified basis: whose claim counts for ``as_of``)."""
    stmt = (sa.select(Lead.township_id, sa.func.sum(FundEntry.amount_wan))
            .join(FundEntry, FundEntry.lead_id == Lead.id)
            .where(FundEntry.arrived_on.between(start, end))
            .group_by(Lead.township_id))
    if scope.verified:
        stmt = stmt.join(Claim, sa.and_(Claim.lead_id == Lead.id, Claim.kind == "funds",
                                        Claim.fund_entry_id == FundEntry.id)).where(counts(as_of))
    return scope(stmt)


def _pending(scope, start, end):
    """Per unit, the claims pending now (待核验) effective in the period: a count per milestone
    kind and the capital amount claimed."""
    def count(kind):
        return sa.func.sum(sa.case((Claim.kind == kind, 1), else_=0))

    # a few units: by their leads (the lead index), not through every pending claim
    status = Claim.status if scope.township_ids is None else no_index(Claim.status)

    return scope(
        sa.select(Lead.township_id, *[count(kind) for kind in PENDING_KINDS],
                  sa.func.sum(sa.case((Claim.kind == "funds", Claim.amount_wan))))
        .join(Claim, Claim.lead_id == Lead.id)
        .where(status == "pending", Claim.effective_on.between(start, end))
        .group_by(Lead.township_id)
    )


def _visits(scope, start, end):
    return scope(
        sa.select(Lead.township_id, sa.func.count(Visit.id))
        .join(Visit, Visit.lead_id == Lead.id)
        .where(Visit.visited_on.between(start, end))
        .group_by(Lead.township_id)
    )


def lead_ids_behind(user: User, metric: str, township_id: int, year: int, as_of: dt.date,
                    basis: str | None = None):
    """The drill-down: a SELECT of the lead ids behind one number (for the lead list), on the
    same basis as the number (the setting's when None)."""
    start, end = dt.date(year, 1, 1), min(as_of, dt.date(year, 12, 31))
    scope = _Scope(user, None, [township_id], basis or default_basis())
    entered = {"signed_100m": ("signed", SCALE_CLASSES["100m"]),
               "signed_1b": ("signed", SCALE_CLASSES["1b"]),
               "signed_5b": ("signed", SCALE_CLASSES["5b"]),
               "started_100m": ("started", SCALE_CLASSES["100m"]),
               "producing": ("producing", 0), "signed_investment_wan": ("signed", 0)}
    entered.update({f"entered_{s}": (s, 0) for s in ORDERED_STAGES})
    if metric in entered:
        stage, threshold = entered[metric]
        facts = lead_facts(scope, as_of).subquery("facts")
        return sa.select(facts.c.lead_id).where(
            facts.c[f"{stage}_on"].between(start, end), facts.c.investment_wan >= threshold)
    if metric == "new_leads":
        return scope(sa.select(Lead.id).where(Lead.created_on.between(start, end)))
    if metric.startswith("snapshot_"):
        stages = lead_stages(scope, as_of)
        return sa.select(stages.c.lead_id).where(
            stages.c.stage == metric.removeprefix("snapshot_"))
    return None


def _latest_changes(as_of, changed_after: bool = False):
    """Each lead's stage changes by ``as_of``, ``rn`` 1 for the one in force at its end.

    ``changed_after``: only leads whose last change is after ``as_of`` (see ``_snapshot``).
    """
    stmt = (
        sa.select(StageChange.lead_id, StageChange.to_stage,
                  sa.func.row_number().over(
                      partition_by=StageChange.lead_id,
                      order_by=(StageChange.effective_on.desc(), StageChange.id.desc()),
                  ).label("rn"))
        .where(StageChange.effective_on <= as_of)
    )
    if changed_after:
        later = sa.select(Lead.id).where(Lead.stage_changed_on > as_of)
        stmt = stmt.where(StageChange.lead_id.in_(later))
    return stmt.subquery()


def warm(as_of: dt.date) -> int:
    """Make every unit's numbers for ``as_of``'s year as of that day current in the cache
    (computing those that are not), and forget rows not recomputed for ``cache.KEEP``; the
    number of units. The caller commits.

    The scheduler runs it just after midnight, so the first statistics request of the day does
    not compute a whole province's year (seconds) while someone waits.
    """
    everyone = User(role=DISTRICT_ADMIN, active=True)  # sees every unit; never saved
    stats = district_stats(everyone, as_of.year, as_of)
    cache.prune()
    return len(stats.units)
