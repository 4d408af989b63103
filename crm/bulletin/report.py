"""The bulletin's content (unit ranking, coloured active leads) and its .xlsx workbook.

``bulletin_data`` reads; the page, the big screen, the download and ``crm export bulletin`` all
show what it returns. A fixed number of queries whatever the number of leads: the statistics
engine's grouped queries, then one query for the leads with their colour, officer and unit.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl.styles import Alignment, Border, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import joinedload

from crm.auth.models import VIEWER
from crm.auth.permissions import counted_leads
from crm.extensions import db
from crm.leads.colour import (
    COLOUR_LABELS,
    COLOURS,
    MILESTONE_LABELS,
    colour_expr,
    lead_colour,
    load_permits,
)
from crm.leads.models import KEY_LEVEL_LABELS, Lead
from crm.leads.pipeline import NEXT_MILESTONE, STAGE_LABELS
from crm.money import plain_decimal, yi
from crm.spreadsheets import font, new_workbook, print_setup, row_height, safe_text, text_width
from crm.stats.queries import DistrictStats, UnitStats, district_stats
from crm.stats.results import pending_summary
from crm.targets.models import METRIC_LABELS, METRICS, RATE_METRICS

#: Cell fill and font colour (ARGB) of each colour in the workbook: Excel's own "light red fill
#: with dark red text", "yellow fill with dark yellow text" and a light blue, so a printed
#: black-and-white copy still reads.
XLSX_COLOURS = {
    "red": ("FFFFC7CE", "FF9C0006"),
    "yellow": ("FFFFEB9C", "FF9C5700"),
    "blue": ("FFBDD7EE", "FF1F4E79"),
}
RANKING_SHEET, LEADS_SHEET, KEY_SHEET = "单位排名", "项目三色", "省市重点项目"
#: The key levels the bulletin lists in a section of their own (省市重点), highest first.
BULLETIN_KEY_LEVELS = ("province", "city")
#: The metrics' names where space is short (the big screen's column heads).
METRIC_SHORT_LABELS = {
    "new_leads": _l("新增线索"),
    "signed_100m": _l("亿元签约"),
    "signed_1b": _l("10亿签约"),
    "signed_5b": _l("50亿签约"),
    "started_100m": _l("亿元开工"),
    "producing": _l("投产"),
    "signed_investment_wan": _l("签约额"),
    "visits": _l("走访"),
    "funds_arrived_wan": _l("到位资金"),
    "start_rate": _l("重点开工率"),
    "stats_inclusion_rate": _l("重点纳统率"),
    "stats_included_investment_wan": _l("纳统投资"),
}
HEADER_ROW = 3  # rows 1–2: title and legend; data from row 4
#: The target metrics whose actual counts one kind of claim: the pending of that kind is shown
#: beside them (``UnitStats.pending``). The other metrics (by scale, investment) count part of a
#: kind: the unit's pending claims are listed in a column of their own
#: (``results.pending_summary``).
PENDING_OF = {"producing": "producing", "funds_arrived_wan": "funds_wan"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class DistrictReader:
    """The district as a read-only reader: what a viewer sees, for a screen nobody signs in to.

    Not a user: it cannot sign in, change anything, or lose its role when a person does.
    """

    role: str = VIEWER
    township_id: None = None
    id: None = None


@dataclass
class BulletinLead:
    """An active lead as the bulletin shows it: colour and reasons as of the date."""

    lead: Lead
    colour: str
    reasons: list[str] = field(default_factory=list)

    @property
    def milestone_field(self) -> str | None:
        return NEXT_MILESTONE.get(self.lead.stage)

    @property
    def milestone_label(self) -> str:
        name = self.milestone_field
        return str(MILESTONE_LABELS[name]) if name else ""

    @property
    def milestone_on(self) -> dt.date | None:
        name = self.milestone_field
        return getattr(self.lead, name) if name else None

    @property
    def officer_name(self) -> str:
        officer = self.lead.primary_officer
        return officer.display_name if officer else ""


@dataclass
class Bulletin:
    as_of: dt.date
    stats: DistrictStats
    leads: list[BulletinLead]
    #: Open disputes (疑似撞单) per unit id: a dispute counts for both its units.
    disputes: dict = field(default_factory=dict)

    @property
    def units(self) -> list[UnitStats]:
        return self.stats.units

    @property
    def time_progress(self) -> Fraction:
        return self.stats.time_progress

    @property
    def metrics(self) -> list[str]:
        """The metrics some unit has a target for, in the usual order: the ranking's columns."""
        used = {t.metric for unit in self.units for t in unit.targets}
        return [m for m in METRICS if m in used]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COLOURS, 0)
        for item in self.leads:
            counts[item.colour] += 1
        return counts

    @property
    def any_pending(self) -> bool:
        """Whether some unit has claims still 待核验 (never on the claimed basis)."""
        return any(v for unit in self.units for v in unit.pending.values())

    def with_colour(self, colour: str) -> list[BulletinLead]:
        return [item for item in self.leads if item.colour == colour]

    @property
    def key_projects(self) -> list[BulletinLead]:
        """The active 省重点 and 市重点 projects (province first), each with its colour, in the
        leads' order (colour, unit, investment)."""
        return sorted((item for item in self.leads
                       if item.lead.key_level in BULLETIN_KEY_LEVELS),
                      key=lambda item: BULLETIN_KEY_LEVELS.index(item.lead.key_level))


def bulletin_data(user, as_of: dt.date) -> Bulletin:
    """The ranking of the units ``user`` may see and their active leads, coloured as of ``as_of``.

    Leads are sorted red, yellow, blue, then by unit (the district's order of units), then by
    investment, largest first. A lead entered after ``as_of`` is left out; the others are
    coloured by their current stage and plans (the bulletin is about the present week).
    """
    stats = district_stats(user, as_of.year, as_of)
    colour = colour_expr(as_of)
    order = sa.case((colour == "red", 0), (colour == "yellow", 1), else_=2)
    # disputed (疑似撞单) and merged leads count in no statistic, and are in no bulletin list
    stmt = counted_leads(
        sa.select(Lead, colour.label("colour"))
        .where(Lead.in_progress, Lead.created_on <= as_of)
        .options(joinedload(Lead.primary_officer), joinedload(Lead.township))
        .order_by(order, Lead.township_id, Lead.investment_wan.desc(), Lead.id),
        user,
    )
    rows = db.session.execute(stmt).all()
    load_permits([lead for lead, _code in rows])
    leads = [BulletinLead(lead, code, lead_colour(lead, as_of)[1]) for lead, code in rows]
    from crm.companies.queries import open_disputes_by_unit

    disputes = open_disputes_by_unit([u.township_id for u in stats.units])
    return Bulletin(as_of, stats, leads, disputes)


def parse_as_of(text: str | None, default: dt.date) -> dt.date:
    """``YYYY-MM-DD`` (years 2000–2100), or ``default`` when empty; ValueError otherwise."""
    text = (text or "").strip()
    if not text:
        return default
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(text)
    day = dt.date.fromisoformat(text)
    if not 2000 <= day.year <= 2100:
        raise ValueError(text)
    return day


# Formatting shared by the page, the screen and the workbook.

def percent(value: Fraction | None, places: int = 1) -> str:
    """0.4959 → "49.6%" (``places`` decimals); None → "—"."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{places}f}%"


def number(value) -> str:
    return f"{plain_decimal(Decimal(value)):,}"


def target_text(target, unit: UnitStats | None = None) -> str:
    """A target as the bulletin writes it: "实际/目标 (完成率)", e.g. "2/10 (20.0%)"; with the
    unit, what is still pending beside an actual that counts one kind of claim, e.g.
    "2/10 (20.0%) (+1 待核验)". A rate target: "实际率/目标率", e.g. "80.0%/90.0%", with the
    due date it was judged on once passed ("截至03-31")."""
    if target.is_rate:
        text = f"{percent(target.actual)}/{percent(target.target)}"
        if target.frozen:
            text = f"{text} {_('截至%(d)s', d=target.due_on.strftime('%m-%d'))}"
        return text
    text = f"{number(target.actual)}/{number(target.target)} ({percent(target.attainment)})"
    if unit is not None and target.metric in PENDING_OF:
        waiting = pending_text(unit.pending[PENDING_OF[target.metric]])
        text = f"{text} {waiting}" if waiting else text
    return text


def actual_text(unit: UnitStats, metric: str) -> str:
    """A unit's figure for a metric it has no target for: a count, 万元, or a rate ("—": no
    projects to rate)."""
    value = unit.actual(metric)
    if metric in RATE_METRICS:
        return percent(value)
    return number(value)


def rank_text(unit: UnitStats) -> str:
    """The unit's rank, or 未设目标 for a unit without targets (not ranked)."""
    return str(unit.rank) if unit.rank is not None else _("未设目标")


def pending_text(value) -> str:
    """"(+2 待核验)" for what is still pending beside a number; "" when nothing is."""
    if not value or value <= 0:
        return ""
    return _("(+%(n)s 待核验)", n=number(value))


def margin_points() -> str:
    """The yellow margin of the target colours in percentage points ("10")."""
    return number(Decimal(str(current_app.config["CRM_TARGET_YELLOW_MARGIN"])) * 100)


def title(as_of: dt.date) -> str:
    return _("市中区招商引资项目红黄蓝通报（截至 %(d)s）", d=as_of.isoformat())


# The workbook.

_THIN = Side(style="thin", color="FFBFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFD9E1F2")
_WRAP = Alignment(vertical="center", wrap_text=True)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def colour_fill(colour: str) -> PatternFill:
    return PatternFill(fill_type="solid", fgColor=XLSX_COLOURS[colour][0])


def write_bulletin_xlsx(data: Bulletin, target) -> None:
    """Write the two-sheet bulletin to a path or a binary stream."""
    workbook = new_workbook()
    _ranking_sheet(workbook.active, data)
    _leads_sheet(workbook.create_sheet(LEADS_SHEET), data)
    _key_sheet(workbook.create_sheet(KEY_SHEET), data)
    workbook.save(target)


def _key_sheet(ws, data: Bulletin) -> None:
    """The 省市重点 projects: level, colour, unit, project, stage, investment, reasons."""
    items = data.key_projects
    legend = _("在办省市重点项目 %(n)s 个。", n=len(items))
    headers = [_("级别"), _("颜色"), _("单位"), _("项目名称"), _("投资方"), _("阶段"),
               _("计划投资（亿元）"), _("原因")]
    _head(ws, data.as_of, legend, headers)
    for row, item in enumerate(items, start=HEADER_ROW + 1):
        lead = item.lead
        colour = ws.cell(row, 2, str(COLOUR_LABELS[item.colour]))
        _colour(colour, item.colour)
        for column, value in ((1, str(KEY_LEVEL_LABELS[lead.key_level])), (3, lead.township.name),
                              (4, lead.name), (5, lead.company),
                              (6, str(STAGE_LABELS[lead.stage])), (8, "；".join(item.reasons))):
            _text(ws.cell(row, column), value)
        ws.cell(row, 7, yi(lead.investment_wan)).number_format = "#,##0.00"
        for column in range(1, len(headers) + 1):
            ws.cell(row, column).border = _BORDER
    _widths(ws, headers, [8, 7, 14, 28, 28, 8, 12, 44])


def _ranking_sheet(ws, data: Bulletin) -> None:
    ws.title = RANKING_SHEET
    metrics = data.metrics
    headers = [_("排名"), _("单位"), _("平均完成率")] + [str(METRIC_LABELS[m]) for m in metrics]
    waiting = data.any_pending
    if waiting:
        headers.append(_("待核验（未计入）"))
    legend = _(
        "时序进度 %(p)s。各指标：实际/目标（完成率）；蓝：完成率不低于时序进度，"
        "黄：落后不超过%(m)s个百分点，红：落后超过%(m)s个百分点。",
        p=percent(data.time_progress), m=margin_points(),
    )
    _head(ws, data.as_of, legend, headers)
    for row, unit in enumerate(data.units, start=HEADER_ROW + 1):
        _text(ws.cell(row, 2), unit.name)
        ws.cell(row, 1, unit.rank if unit.rank is not None else rank_text(unit)).alignment = _CENTER
        mean = ws.cell(row, 3)
        if unit.mean_attainment is None:
            mean.value = "—"
        else:
            mean.value = round(float(unit.mean_attainment), 4)
            mean.number_format = "0.0%"
        by_metric = {t.metric: t for t in unit.targets}
        for column, metric in enumerate(metrics, start=4):
            cell = ws.cell(row, column)
            result = by_metric.get(metric)
            if result is None:
                cell.value = actual_text(unit, metric)
                continue
            cell.value = target_text(result, unit)
            _colour(cell, result.color)
        if waiting:
            _text(ws.cell(row, len(headers)), pending_summary(unit))
        for column in range(1, len(headers) + 1):
            ws.cell(row, column).border = _BORDER
            if column > 2:
                ws.cell(row, column).alignment = _CENTER
    _widths(ws, headers, [7, 16, 12] + [20] * len(metrics) + ([30] if waiting else []))


def _leads_sheet(ws, data: Bulletin) -> None:
    counts = data.counts
    legend = _(
        "红色 %(r)s 个，黄色 %(y)s 个，蓝色 %(b)s 个。红：计划节点逾期超过%(red)s天；"
        "黄：逾期1至%(red)s天、下次跟进日期已过或超过%(idle)s天未走访；蓝：其他。",
        r=counts["red"], y=counts["yellow"], b=counts["blue"],
        red=current_app.config["CRM_RED_OVERDUE_DAYS"], idle=current_app.config["CRM_IDLE_VISIT_DAYS"],
    )
    headers = [_("颜色"), _("单位"), _("项目名称"), _("投资方"), _("阶段"), _("计划投资（亿元）"),
               _("负责人"), _("下一节点"), _("计划日期"), _("原因")]
    _head(ws, data.as_of, legend, headers)
    for row, item in enumerate(data.leads, start=HEADER_ROW + 1):
        lead = item.lead
        colour = ws.cell(row, 1, str(COLOUR_LABELS[item.colour]))
        _colour(colour, item.colour)
        colour.alignment = _CENTER
        for column, value in ((2, lead.township.name), (3, lead.name), (4, lead.company),
                              (5, str(STAGE_LABELS[lead.stage])), (7, item.officer_name),
                              (8, item.milestone_label), (10, "；".join(item.reasons))):
            _text(ws.cell(row, column), value)
        amount = ws.cell(row, 6, yi(lead.investment_wan))
        amount.number_format = "#,##0.00"
        planned = ws.cell(row, 9, item.milestone_on)
        planned.number_format = "yyyy-mm-dd"
        planned.alignment = _CENTER
        for column in range(1, len(headers) + 1):
            ws.cell(row, column).border = _BORDER
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(headers))}{max(HEADER_ROW, ws.max_row)}"
    _widths(ws, headers, [7, 14, 28, 28, 8, 12, 10, 14, 12, 44])


def _head(ws, as_of: dt.date, legend: str, headers: list[str]) -> None:
    """Title (row 1), legend (row 2), column headers (row 3); frozen; printed landscape."""
    last = get_column_letter(len(headers))
    ws["A1"] = title(as_of)
    ws["A1"].font = font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(f"A1:{last}1")
    ws["A2"] = legend
    ws["A2"].alignment = _WRAP
    ws.merge_cells(f"A2:{last}2")
    ws.row_dimensions[1].height = 28
    ws.row_dimensions[2].height = 36
    for column, header in enumerate(headers, start=1):
        cell = ws.cell(HEADER_ROW, column, header)
        cell.font = font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = _CENTER
        cell.border = _BORDER
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    print_setup(ws, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")


def _text(cell, value) -> None:
    cell.value = safe_text(value) or None
    cell.alignment = _WRAP


def _colour(cell, colour: str | None) -> None:
    if colour in XLSX_COLOURS:
        cell.fill = colour_fill(colour)
        cell.font = font(bold=True, color=XLSX_COLOURS[colour][1])


def _widths(ws, headers: list[str], widths: list[float]) -> None:
    """Each column as wide as asked and at least as its header (a header such as 计划投资（亿元）
    never breaks before its bracket); every row from the header down as tall as its wrapped
    text needs, the legend's too (it spans the sheet)."""
    widths = [max(width, text_width(header) + 2) for header, width in zip(headers, widths,
                                                                          strict=True)]
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.row_dimensions[2].height = max(36, row_height([(ws["A2"].value, sum(widths))]) or 0)
    for row in range(HEADER_ROW, ws.max_row + 1):
        height = row_height((_shown(ws.cell(row, column).value), width)
                            for column, width in enumerate(widths, start=1))
        if height:
            ws.row_dimensions[row].height = height


def _shown(value) -> str:
    """A cell's text as printed (numbers and dates are short: one line)."""
    return value if isinstance(value, str) else ""
