"""Statistics pages: one unit's year (heads, admins, viewers) and the district's ranking.

The numbers come from ``queries`` and ``breakdowns``; here they are only arranged for the
templates (percentages as text, chart rows, drill-down links to the lead list).
"""

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import can, require
from crm.clock import today
from crm.industries.initial import UNSORTED
from crm.industries.queries import all_industries, chain_groups
from crm.leads.colour import lead_colour, load_permits
from crm.leads.models import SOURCE_LABELS
from crm.leads.pipeline import ORDERED_STAGES, STAGE_LABELS, STAGES
from crm.leads.queries import IN_PROGRESS, LeadFilter, list_leads
from crm.money import wan_text
from crm.paging import keep_in_range
from crm.stats.breakdowns import breakdowns, weekly_moves
from crm.stats.charts import (
    NO_COLOUR,
    STAGE_COLOURS,
    TARGET_COLOURS,
    WIDE,
    Bar,
    attainment_chart,
    funnel_chart,
    percent,
    weekly_chart,
)
from crm.stats.queries import district_ranking, district_stats
from crm.stats.results import STEPS, target_colour, yellow_margin
from crm.supervision.queries import list_orders
from crm.targets.models import METRIC_LABELS, RATE_METRICS

blueprint = Blueprint("stats", __name__, url_prefix="/stats")

#: Target metrics the lead list can show the leads behind (``lead_ids_behind``).
DRILLABLE = ("new_leads", "signed_100m", "signed_1b", "signed_5b", "started_100m", "producing",
             "signed_investment_wan")
#: The target metrics shown with what is still pending beside them (``UnitStats.pending``).
PENDING_OF = {"producing": "producing", "funds_arrived_wan": "funds_wan"}
#: Red and yellow projects listed on the unit page, per colour.
ATTENTION_ROWS = 20
#: Units per page of the district ranking.
RANKING_ROWS = 50


@dataclass
class StatsQuery:
    """The year, as-of date and industry filter of a page, and its drill-down links."""

    year: int
    as_of: dt.date
    industry: str | None = None
    _lead_list: str | None = field(default=None, repr=False, compare=False)

    def drill(self, township_id: int, metric: str | None = None, **filters) -> str:
        """The lead list behind a number (``metric`` of ``lead_ids_behind``, or filters only).

        A ranking page links a few hundred numbers: the list's address is built once.
        """
        if self._lead_list is None:
            self._lead_list = url_for("leads.index")
        args = {"township_id": township_id, "industry": self.industry, **filters}
        if metric:
            args.update(metric=metric, year=self.year, as_of=self.as_of.isoformat())
        return f"{self._lead_list}?{urlencode({k: v for k, v in args.items() if v is not None})}"

    def args(self) -> dict:
        return {"year": self.year, "as_of": self.as_of.isoformat()}


def parse_query(args) -> StatsQuery:
    """?year=2025&as_of=2025-06-30&industry=…; a bad date or year falls back, with a flash."""
    as_of = inputs.date_or_default(args, "as_of", today(), what=_("截至日期"))
    year = inputs.year_or_default(args, "year", as_of.year)
    industry = (args.get("industry") or "").strip()[:64] or None
    return StatsQuery(year, as_of, industry)


@blueprint.context_processor
def stats_helpers():
    return {"pct": percent, "METRIC_LABELS": METRIC_LABELS, "DRILLABLE": DRILLABLE,
            "PENDING_OF": PENDING_OF, "RATE_METRICS": RATE_METRICS, "metric_value": metric_value}


def metric_value(metric: str, value) -> str:
    """A metric's figure as text: a rate as a percentage, a count or 万元 as a number."""
    return percent(value) if metric in RATE_METRICS else wan_text(value)


@blueprint.route("/")
@login_required
def overview():
    if can(current_user, "stats.unit_home") and current_user.township_id:
        keep = {k: request.args[k] for k in ("year", "as_of") if request.args.get(k)}
        return redirect(url_for("stats.unit", township_id=current_user.township_id, **keep))
    require(current_user, "district.view")
    query = parse_query(request.args)
    ranking = district_ranking(current_user, query.year, query.as_of,
                               inputs.page_arg(request.args), RANKING_ROWS,
                               industry=query.industry)
    keep_in_range(ranking)
    rows = [{"unit": u, "targets": {t.metric: t for t in u.targets}} for u in ranking.units]
    margin = yellow_margin()
    bars = [Bar(u.name, float(u.mean_attainment or 0),
                _colour(target_colour(u.mean_attainment, ranking.time_progress, margin)),
                percent(u.mean_attainment), url_for("stats.unit", township_id=u.township_id,
                                                    **query.args()))
            for u in ranking.units if u.targets]
    title = _("各单位平均目标完成率与时序进度")
    # Drawn for a phone and, wider, for a wide screen (the stylesheet shows one of the two).
    chart = (attainment_chart("chart-ranking", title, bars, ranking.time_progress)
             + attainment_chart("chart-ranking-wide", title, bars, ranking.time_progress,
                                width=WIDE))
    return render_template(
        "stats/overview.html", query=query, stats=ranking, rows=rows, page=ranking,
        totals=ranking.totals, metrics=ranking.metrics, industries=_industries(query.industry),
        chart=chart, stages=STAGES,
    )


@blueprint.route("/unit/<int:township_id>")
@login_required
def unit(township_id: int):
    require(current_user, "unit.stats", township_id, status=404)
    query = parse_query(request.args)
    query.industry = None  # the unit page breaks down by industry instead
    stats = district_stats(current_user, query.year, query.as_of, township_ids=[township_id])
    unit_stats = stats.unit(township_id)
    if unit_stats is None:
        abort(404)
    parts = breakdowns(current_user, township_id, query.year, query.as_of)
    weeks = weekly_moves(current_user, township_id, query.year, query.as_of)
    return render_template(
        "stats/unit.html", query=query, stats=stats, u=unit_stats, parts=parts,
        funnel=_funnel_rows(unit_stats, query),
        targets=_target_rows(unit_stats, query),
        rates=[(_("开工率"), percent(unit_stats.start_rate), unit_stats.pending["started"], False),
               (_("纳统率"), percent(unit_stats.stats_inclusion_rate),
                unit_stats.pending["stats_included"], False),
               (_("重点项目开工率"), percent(unit_stats.key_start_rate), 0, False),
               (_("重点项目纳统率"), percent(unit_stats.key_stats_inclusion_rate), 0, False),
               (_("资金到位率"), percent(unit_stats.funds_arrival_rate),
                unit_stats.pending["funds_wan"], True)],
        charts=_unit_charts(unit_stats, stats.time_progress, weeks, query),
        attention=_attention(township_id, query.as_of),
        orders=list_orders(current_user, status="live", township_id=township_id),
        SOURCE_LABELS=SOURCE_LABELS,
    )


def _colour(colour: str | None) -> str:
    return TARGET_COLOURS.get(colour or "", NO_COLOUR)


def _funnel_rows(u, query: StatsQuery) -> list[dict]:
    """Per active stage: entered in the year, in it at the as-of date, the cohort's reach, and
    the conversion and median days to the next stage."""
    conversion, rows = u.conversion, []
    steps = dict(STEPS)
    for stage in ORDERED_STAGES:
        step = f"{stage}_{steps[stage]}" if stage in steps else None
        velocity = u.velocity.get(step) if step else None
        rows.append({
            "stage": stage, "label": STAGE_LABELS[stage],
            "entered": u.entered[stage], "snapshot": u.snapshot[stage], "reached": u.reached[stage],
            "entered_href": query.drill(u.township_id, f"entered_{stage}"),
            "snapshot_href": query.drill(u.township_id, f"snapshot_{stage}"),
            "next": STAGE_LABELS[steps[stage]] if step else None,
            "conversion": percent(conversion[step]) if step else None,
            "velocity": None if velocity is None else f"{velocity:g}",
            "pending": u.pending.get(stage, 0),
        })
    return rows


def _target_rows(u, query: StatsQuery) -> list[dict]:
    return [{
        "metric": t.metric, "label": METRIC_LABELS[t.metric], "target": t.target,
        "actual": t.actual, "attainment": percent(t.attainment), "colour": t.color,
        "is_rate": t.is_rate, "due_on": t.due_on, "frozen": t.frozen,
        "target_text": metric_value(t.metric, t.target),
        "actual_text": metric_value(t.metric, t.actual),
        "href": query.drill(u.township_id, t.metric) if t.metric in DRILLABLE else None,
        "pending": u.pending[PENDING_OF[t.metric]] if t.metric in PENDING_OF else 0,
        "amount": t.metric == "funds_arrived_wan",
    } for t in u.targets]


def _unit_charts(u, progress, weeks, query: StatsQuery) -> dict:
    """The unit page's charts, each drawn for a phone and, wider, for a wide screen (the
    stylesheet shows one of the two), so their text keeps a readable size on both."""
    funnel_title = _("%(y)s 年各阶段进入项目数", y=query.year)
    stages = [Bar(str(STAGE_LABELS[s]), u.entered[s], STAGE_COLOURS[s], str(u.entered[s]),
                  query.drill(u.township_id, f"entered_{s}")) for s in ORDERED_STAGES]
    funnel = (funnel_chart("chart-funnel", funnel_title, stages)
              + funnel_chart("chart-funnel-wide", funnel_title, stages, width=WIDE))
    targets_title = _("目标完成率与时序进度")
    targets = [Bar(str(METRIC_LABELS[t.metric]), float(t.attainment or 0), _colour(t.color),
                   f"{metric_value(t.metric, t.actual)} / {metric_value(t.metric, t.target)} · "
                   f"{percent(t.attainment)}",
                   query.drill(u.township_id, t.metric) if t.metric in DRILLABLE else None)
               for t in u.targets]
    attainment = (attainment_chart("chart-targets", targets_title, targets, progress)
                  + attainment_chart("chart-targets-wide", targets_title, targets, progress,
                                     width=WIDE))
    labels = {s: str(STAGE_LABELS[s]) for s in STAGES}
    title = _("近 %(n)s 周阶段变动", n=len(weeks))
    weekly = (weekly_chart("chart-weekly", title, weeks, STAGES, labels)
              + weekly_chart("chart-weekly-wide", title, weeks, STAGES, labels, width=WIDE))
    return {"funnel": funnel, "attainment": attainment, "weekly": weekly}


def _attention(township_id: int, as_of: dt.date) -> list[dict]:
    """The unit's red and yellow active projects as of the date, each with its reasons."""
    groups = []
    for colour in ("red", "yellow"):
        page = list_leads(current_user, LeadFilter(township_id=township_id, stage=IN_PROGRESS,
                                                   color=colour, sort="investment"),
                          as_of, per_page=ATTENTION_ROWS)
        load_permits(page.items)
        items = [(lead, lead_colour(lead, as_of)[1]) for lead in page.items]
        groups.append({
            "colour": colour, "total": page.total, "rows": items,
            "href": url_for("leads.index", township_id=township_id, stage=IN_PROGRESS,
                            color=colour, sort="investment"),
        })
    return groups


def _industries(chosen: str | None) -> list[tuple[str, list[str]]]:
    """The managed industries by 产业链 for the filter, then 待归类 (and a chosen other text)."""
    groups = [(chain, [i.name for i in items])
              for chain, items in chain_groups(all_industries(), active_only=False)]
    names = {n for _c, items in groups for n in items}
    extra = [UNSORTED] + ([chosen] if chosen and chosen not in names | {UNSORTED} else [])
    return [*groups, ("", extra)]
