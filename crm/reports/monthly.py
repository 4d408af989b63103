"""The monthly report (月报): milestones in the year to date per unit and district-wide, the
projects waiting longest to start or to produce, and the supervision orders of the month."""

import calendar
import datetime as dt
import io
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy.orm import joinedload

from crm import word
from crm.auth.models import User
from crm.auth.permissions import scope_leads
from crm.clock import today
from crm.extensions import db
from crm.inputs import to_month
from crm.leads.models import Lead
from crm.money import yi_text
from crm.spreadsheets import safe_text
from crm.stats.queries import district_stats
from crm.supervision.models import SupervisionOrder
from crm.supervision.queries import list_orders

TOP = 10
MILESTONES = ("signed", "started", "producing")


def parse_month(text: str | None) -> tuple[int, int]:
    """``YYYY-MM`` (years 2000–2100); the current month when empty; ValueError otherwise."""
    text = (text or "").strip()
    if not text:
        now = today()
        return now.year, now.month
    return to_month(text)


@dataclass
class Waiting:
    lead: Lead
    since: dt.date
    days: int


@dataclass
class MonthlyReport:
    year: int
    month: int
    first: dt.date
    as_of: dt.date
    units: list  # [(name, {signed, started, producing})]
    district: dict
    signed_waiting: list[Waiting]
    started_waiting: list[Waiting]
    orders: list[SupervisionOrder]

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"


def _waiting(user: User, stage: str, as_of: dt.date) -> list[Waiting]:
    stmt = scope_leads(
        sa.select(Lead).where(Lead.stage == stage, Lead.stage_changed_on <= as_of)
        .options(joinedload(Lead.township))
        .order_by(Lead.stage_changed_on, Lead.id).limit(TOP), user)
    return [Waiting(lead, lead.stage_changed_on, (as_of - lead.stage_changed_on).days)
            for lead in db.session.scalars(stmt)]


def monthly_report(user: User, year: int, month: int) -> MonthlyReport:
    """The report of ``month``: figures as of its last day (today for the current month)."""
    first = dt.date(year, month, 1)
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    as_of = min(last, max(today(), first))
    stats = district_stats(user, year, as_of)
    units = [(u.name, {m: u.entered.get(m, 0) for m in MILESTONES}) for u in stats.units]
    district = {m: sum(row[m] for _name, row in units) for m in MILESTONES}
    return MonthlyReport(
        year, month, first, as_of, units, district,
        _waiting(user, "signed", as_of), _waiting(user, "started", as_of),
        list(reversed(list_orders(user, issued_from=first, issued_to=last))))


def _title(report: MonthlyReport) -> str:
    return _("市中区招商引资工作月报（%(y)s年%(m)s月）", y=report.year, m=report.month)


def _tables(report: MonthlyReport) -> list[tuple[str, list[str], list[list]]]:
    milestone_headers = [_("单位"), _("签约"), _("开工"), _("投产")]
    rows = [[name, r["signed"], r["started"], r["producing"]] for name, r in report.units]
    rows.append([_("全区合计"), *[report.district[m] for m in MILESTONES]])
    waiting_headers = [_("单位"), _("项目名称"), _("投资方"), _("计划投资（亿元）"), _("自"), _("等待天数")]

    def waiting_rows(items):
        return [[w.lead.township.name, w.lead.name, w.lead.company, yi_text(w.lead.investment_wan),
                 w.since.isoformat(), w.days] for w in items]

    order_rows = [[o.number_text, o.level_label, o.township.name, o.lead.name, o.reason,
                   o.issued_on.isoformat(), o.due_on.isoformat(), o.status_label]
                  for o in report.orders]
    return [
        (_("一、本年累计签约、开工、投产项目（截至 %(d)s）", d=report.as_of.isoformat()),
         milestone_headers, rows),
        (_("二、签约未开工项目（等待最久的%(n)s个）", n=TOP), waiting_headers,
         waiting_rows(report.signed_waiting)),
        (_("三、开工未投产项目（等待最久的%(n)s个）", n=TOP), waiting_headers,
         waiting_rows(report.started_waiting)),
        (_("四、本月督办单"), [_("编号"), _("级别"), _("单位"), _("项目"), _("督办事由"),
                            _("下发日期"), _("办理期限"), _("状态")], order_rows),
    ]


def report_docx(report: MonthlyReport) -> bytes:
    document = word.new_document(landscape=True)
    word.red_header(document, _("市中区招商引资工作月报"),
                    _("%(y)s年%(m)s月", y=report.year, m=report.month), _title(report))
    for title, headers, rows in _tables(report):
        word.heading(document, title)
        word.table(document, headers, rows)
    return word.to_bytes(document)


def report_xlsx(report: MonthlyReport) -> bytes:
    workbook = Workbook()
    ws = workbook.active
    ws.title = _("月报")
    ws.append([_title(report)])
    ws["A1"].font = Font(bold=True, size=14)
    for title, headers, rows in _tables(report):
        ws.append([])
        ws.append([title])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
        ws.append(headers)
        for row in rows:
            ws.append([safe_text(v) if isinstance(v, str) else v for v in row])
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


def tables(report: MonthlyReport):
    return _tables(report)
