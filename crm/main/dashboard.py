"""The figures at a glance on the home page: the district's (admins, viewers, reviewers) and one
unit's (its head): KPI cards, the year's funnel, the month's activity, target progress, rank.

Every number comes from the statistics engine (``crm.stats.queries.district_stats``, cached per
unit) or from grouped SQL (``crm.stats.activity``, the home page's ``pipeline_counts``); here
they are only arranged for the template and drawn as charts. A fixed number of queries whatever
the number of leads.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup

from crm.auth.permissions import can
from crm.bulletin.report import DistrictReader
from crm.leads.pipeline import CLOSED_STAGES, ORDERED_STAGES, STAGE_LABELS
from crm.main.dashboard_charts import DARK, SCREEN_SERIES_COLOURS, bars_chart, month_chart
from crm.money import wan_text
from crm.stats.activity import MonthActivity, month_activity
from crm.stats.charts import (
    NO_COLOUR,
    STAGE_COLOURS,
    TARGET_COLOURS,
    Bar,
    attainment_chart,
    funnel_chart,
    percent,
)
from crm.stats.queries import district_stats
from crm.stats.results import DistrictStats, UnitStats, ratio, target_colour
from crm.targets.models import COUNT_METRICS, METRIC_LABELS, METRICS, RATE_METRICS

#: How many of the best-ranked units the district's dashboard shows.
TOP_UNITS = 5
#: The stages a lead is being worked in (在办): every stage but producing and lost.
ACTIVE_STAGES = tuple(s for s in ORDERED_STAGES if s not in CLOSED_STAGES)


@dataclass
class Kpi:
    """One card: a label, the figure as text, what is still 待核验 beside it, a link."""

    key: str
    label: str
    value: str
    pending: int | Decimal = 0
    amount: bool = False
    href: str | None = None
    #: "alert" (red), "warn" (yellow) or "" for the card's accent.
    tone: str = ""


@dataclass
class TargetRow:
    metric: str
    label: str
    target: str
    actual: str
    attainment: str
    colour: str | None
    #: The district's row: how many units have this target, and their colours.
    units: int = 0
    colours: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class Dashboard:
    year: int
    as_of: dt.date
    time_progress: Fraction
    kpis: list[Kpi]
    funnel: list[dict]
    funnel_chart: Markup
    month: MonthActivity
    month_chart: Markup
    targets: list[TargetRow]
    targets_chart: Markup | None
    #: A unit's dashboard: its rank (None: not ranked), how many units are ranked, its mean
    #: attainment; ``None`` when the user may not see the rank.
    rank: tuple | None = None
    #: The district's dashboard: its best-ranked units (``UnitStats``) and their chart.
    top: list = field(default_factory=list)
    top_chart: Markup | None = None
    ranked_units: int = 0


def _colour(code: str | None) -> str:
    return TARGET_COLOURS.get(code or "", NO_COLOUR)


def _value(metric: str, value) -> str:
    return percent(value) if metric in RATE_METRICS else wan_text(value)


def _kpis(stats: UnitStats, counts: dict, links: dict) -> list[Kpi]:
    """The cards from a unit's (or the district's added up) numbers and the home page's counts
    (``red``, ``overdue``)."""
    active = sum(stats.snapshot.get(s, 0) for s in ACTIVE_STAGES)
    return [
        Kpi("active", _("在办项目"), str(active), href=links.get("active")),
        Kpi("signed", _("本年签约"), str(stats.entered["signed"]), stats.pending["signed"],
            href=links.get("signed")),
        Kpi("started", _("本年开工"), str(stats.entered["started"]), stats.pending["started"],
            href=links.get("started")),
        Kpi("producing", _("本年投产"), str(stats.entered["producing"]),
            stats.pending["producing"], href=links.get("producing")),
        Kpi("investment", _("本年签约投资（万元）"),
            wan_text(stats.actuals["signed_investment_wan"]), href=links.get("investment")),
        Kpi("overdue", _("逾期跟进"), str(counts.get("overdue", 0)), href=links.get("overdue"),
            tone="warn" if counts.get("overdue") else ""),
        Kpi("red", _("红色项目"), str(counts.get("red", 0)), href=links.get("red"),
            tone="alert" if counts.get("red") else ""),
    ]


def _funnel(stats: UnitStats, year: int) -> tuple[list[dict], Markup]:
    rows = [{"stage": s, "label": STAGE_LABELS[s], "entered": stats.entered[s],
             "snapshot": stats.snapshot.get(s, 0), "pending": stats.pending.get(s, 0)}
            for s in ORDERED_STAGES]
    chart = funnel_chart(
        "chart-home-funnel", _("%(y)s 年各阶段进入项目数", y=year),
        [Bar(str(r["label"]), r["entered"], STAGE_COLOURS[r["stage"]], str(r["entered"]))
         for r in rows],
    )
    return rows, chart


def _month(user, township_id, as_of) -> tuple[MonthActivity, Markup]:
    month = month_activity(user, township_id, as_of)
    chart = month_chart("chart-home-month", _("近 %(n)s 天每日走访与阶段变动", n=len(month.days)),
                        month, font=15, height=230)
    return month, chart


def _target_chart(rows: list[TargetRow], values: list, progress) -> Markup | None:
    bars = [Bar(r.label, float(v or 0), _colour(r.colour), f"{r.actual} / {r.target} · {r.attainment}")
            for r, v in zip(rows, values, strict=True) if v is not None]
    if not bars:
        return None
    return attainment_chart("chart-home-targets", _("目标完成率与时序进度"), bars, progress)


def unit_dashboard(user, township_id: int, counts: dict, as_of: dt.date) -> Dashboard | None:
    """One unit's year as its head sees it (``None`` when the user may not see the unit)."""
    year = as_of.year
    stats = district_stats(user, year, as_of, township_ids=[township_id])
    unit = stats.unit(township_id)
    if unit is None:
        return None

    def drill(metric=None, **filters):
        args = {"township_id": township_id, **filters}
        if metric:
            args.update(metric=metric, year=year, as_of=as_of.isoformat())
        return url_for("leads.index", **args)

    links = {"active": drill(stage="active"), "signed": drill("entered_signed"),
             "started": drill("entered_started"), "producing": drill("entered_producing"),
             "investment": drill("signed_investment_wan"),
             "overdue": drill(stage="active", overdue=1, sort="follow_up"),
             "red": drill(stage="active", color="red", sort="investment")}
    funnel, funnel_svg = _funnel(unit, year)
    month, month_svg = _month(user, township_id, as_of)
    rows = [TargetRow(t.metric, str(METRIC_LABELS[t.metric]), _value(t.metric, t.target),
                      _value(t.metric, t.actual), percent(t.attainment), t.color,
                      note=_("截至%(d)s", d=t.due_on.isoformat()) if t.due_on else "")
            for t in unit.targets]
    chart = _target_chart(rows, [t.attainment for t in unit.targets], stats.time_progress)
    rank = None
    if can(user, "unit.rank"):
        rank = unit_rank(township_id, year, as_of)
    return Dashboard(year, as_of, stats.time_progress, _kpis(unit, counts, links), funnel,
                     funnel_svg, month, month_svg, rows, chart, rank=rank)


def unit_rank(township_id: int, year: int, as_of: dt.date) -> tuple:
    """(rank or None, how many units are ranked, the unit's mean attainment) in the whole
    district's ranking: computed as the district reads it (the bulletin's reader), of which
    only these three figures leave this function."""
    district = district_stats(DistrictReader(), year, as_of)
    ranked = sum(1 for u in district.units if u.rank is not None)
    unit = district.unit(township_id)
    if unit is None:
        return (None, ranked, None)
    return (unit.rank, ranked, unit.mean_attainment)


def district_dashboard(user, counts: dict, as_of: dt.date) -> Dashboard:
    """Every unit the user may see, added up; the units' targets per metric; the best units."""
    year = as_of.year
    stats = district_stats(user, year, as_of)
    totals = stats.totals
    added = {"red": sum(row.get("red", 0) for row in counts.values()),
             "overdue": sum(row.get("overdue", 0) for row in counts.values())}
    links = {"active": url_for("leads.index", stage="active"),
             "overdue": url_for("leads.index", stage="active", overdue=1, sort="follow_up"),
             "red": url_for("leads.index", stage="active", color="red", sort="investment")}
    funnel, funnel_svg = _funnel(totals, year)
    month, month_svg = _month(user, None, as_of)
    rows, values = _district_targets(stats)
    chart = _target_chart(rows, values, stats.time_progress)
    ranked = [u for u in stats.units if u.rank is not None]
    top = ranked[:TOP_UNITS]
    top_chart = None
    if top:
        top_chart = attainment_chart(
            "chart-home-top", _("排名前 %(n)s 位单位的平均目标完成率", n=len(top)),
            [Bar(f"{u.rank}. {u.name}", float(u.mean_attainment or 0),
                 _colour(target_colour(u.mean_attainment, stats.time_progress)),
                 percent(u.mean_attainment)) for u in top],
            stats.time_progress)
    return Dashboard(year, as_of, stats.time_progress, _kpis(totals, added, links), funnel,
                     funnel_svg, month, month_svg, rows, chart, top=top, top_chart=top_chart,
                     ranked_units=len(ranked))


def _district_targets(stats: DistrictStats) -> tuple[list[TargetRow], list]:
    """Per metric some unit has a target for: how many units have it and their colours; for a
    count or an amount also the targets and actuals of those units added up (a rate is not
    additive: only its colours)."""
    by_metric: dict[str, list] = {}
    for unit in stats.units:
        for t in unit.targets:
            by_metric.setdefault(t.metric, []).append(t)
    rows, values = [], []
    for metric in METRICS:
        found = by_metric.get(metric)
        if not found:
            continue
        colours = Counter(t.color for t in found if t.color)
        if metric in COUNT_METRICS:
            target = sum((Decimal(t.target) for t in found), Decimal(0))
            actual = sum((Decimal(t.actual or 0) for t in found), Decimal(0))
            attainment = ratio(actual, target)
            rows.append(TargetRow(metric, str(METRIC_LABELS[metric]), wan_text(target),
                                  wan_text(actual), percent(attainment),
                                  target_colour(attainment, stats.time_progress),
                                  units=len(found), colours=dict(colours)))
            values.append(attainment)
        else:
            rows.append(TargetRow(metric, str(METRIC_LABELS[metric]), "—", "—", "—", None,
                                  units=len(found), colours=dict(colours)))
            values.append(None)
    return rows, values


#: The stages' colours on the big screen's dark panels (lighter than the pages' own).
SCREEN_STAGE_COLOURS = {"contact": "#94a3b8", "negotiation": "#a78bfa", "signed": "#2dd4bf",
                        "started": "#fb923c", "producing": "#4ade80"}


def screen_charts(reader, data, as_of: dt.date) -> dict:
    """The big screen's funnel (the district's entries this year, from the bulletin's
    statistics) and the last 30 days' activity, drawn for its dark panels with text readable
    from across a room; with the figures for their text equivalents."""
    totals = data.stats.totals
    funnel = [(s, STAGE_LABELS[s], totals.entered[s]) for s in ORDERED_STAGES]
    month = month_activity(reader, None, as_of)
    return {
        "funnel": funnel,
        "funnel_svg": bars_chart(
            "screen-funnel", _("%(y)s 年各阶段进入项目数", y=as_of.year),
            [Bar(str(label), n, SCREEN_STAGE_COLOURS[s], str(n)) for s, label, n in funnel],
            width=340, font=20, label_w=60, palette=DARK),
        "month": month,
        "month_svg": month_chart(
            "screen-month", _("近 %(n)s 天每日走访与阶段变动", n=len(month.days)), month,
            width=340, height=250, font=20, palette=DARK, colours=SCREEN_SERIES_COLOURS),
    }
