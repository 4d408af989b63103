"""The lead and visit lists as .xlsx workbooks (openpyxl write-only: rows go to disk, not memory).

The lead sheet's first columns are exactly the import template's (``LEAD_IMPORT_HEADERS``), so an
export re-imports to the same leads; extra columns follow. Headers and labels are Chinese
whatever the reader's language. Amounts are numbers (万元 and 亿元), dates are date cells, and
every text cell goes through ``safe_text`` (no formula injection).
"""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import contains_eager, joinedload

from crm.auth.models import User
from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.leads.colour import COLOUR_LABELS, colour_expr
from crm.leads.models import KEY_LEVEL_LABELS, SOURCE_LABELS, Lead
from crm.leads.pipeline import STAGE_LABELS
from crm.leads.queries import SORTS, LeadFilter
from crm.money import plain_decimal, yi
from crm.spreadsheets import safe_text
from crm.townships.models import Township
from crm.visits.models import KIND_LABELS, Visit

#: The import template's columns, in its order (the importer reads these names).
LEAD_IMPORT_HEADERS = (
    "项目名称", "投资方", "统一社会信用代码", "来源地", "产业", "产业链", "招商方式",
    "计划投资(万元)", "所属镇街", "负责人", "阶段", "录入日期", "计划签约日期", "计划开工日期",
    "计划投产日期", "下次跟进", "联系人", "联系电话",
)
LEAD_EXTRA_HEADERS = ("计划投资(亿元)", "到位资金(万元)", "颜色", "纳统日期", "重点级别")
LEAD_HEADERS = LEAD_IMPORT_HEADERS + LEAD_EXTRA_HEADERS
LEAD_WIDTHS = (28, 28, 22, 12, 14, 14, 12, 14, 12, 10, 8, 12, 13, 13, 13, 12, 10, 16,
               14, 14, 6, 12, 10)
VISIT_HEADERS = ("走访日期", "所属镇街", "项目名称", "投资方", "方式", "走访人", "参与人员",
                 "走访内容", "下一步工作", "下次跟进")
VISIT_WIDTHS = (12, 12, 28, 28, 10, 10, 16, 40, 30, 12)
LEADS_SHEET, VISITS_SHEET = "项目", "走访记录"
CHUNK = 500
DATE_FORMAT = "yyyy-mm-dd"
WAN_FORMAT = "#,##0.####"
YI_FORMAT = "#,##0.00"
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFD9E1F2")


class _Writer:
    """Cells for one write-only sheet."""

    def __init__(self, ws):
        self.ws = ws

    def header(self, headers, widths):
        for i, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        self.ws.freeze_panes = "A2"
        cells = []
        for text in headers:
            cell = WriteOnlyCell(self.ws, value=text)
            cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
            cells.append(cell)
        self.ws.append(cells)

    def text(self, value):
        return safe_text(value) if value not in (None, "") else None

    def date(self, value: dt.date | None):
        if value is None:
            return None
        cell = WriteOnlyCell(self.ws, value=value)
        cell.number_format = DATE_FORMAT
        return cell

    def number(self, value: Decimal | None, fmt: str):
        if value is None:
            return None
        cell = WriteOnlyCell(self.ws, value=plain_decimal(Decimal(value)))
        cell.number_format = fmt
        return cell


def lead_rows_stmt(user: User, flt: LeadFilter, as_of: dt.date) -> sa.Select:
    """The leads of the list page's filter that ``user`` may see, with colour, in its order."""
    flt.user = user
    stmt = flt.apply(scope_leads(sa.select(Lead), user), as_of)
    return (
        stmt.add_columns(colour_expr(as_of).label("colour"))
        .options(joinedload(Lead.primary_officer), joinedload(Lead.township),
                 joinedload(Lead.industry_ref))
        .order_by(*SORTS.get(flt.sort, SORTS["updated"]))
        .execution_options(yield_per=CHUNK)
    )


def write_leads_xlsx(user: User, flt: LeadFilter, as_of: dt.date, target) -> int:
    """Write every lead of the filter to ``target`` (path or binary stream); return the count.

    One query, streamed in chunks of ``CHUNK`` rows (unit and officer joined, no per-row query).
    """
    wb = Workbook(write_only=True)
    w = _Writer(wb.create_sheet(LEADS_SHEET))
    w.header(LEAD_HEADERS, LEAD_WIDTHS)
    n = 0
    with force_locale("zh_CN"):
        for lead, colour in db.session.execute(lead_rows_stmt(user, flt, as_of)):
            w.ws.append([
                w.text(lead.name),
                w.text(lead.company),
                w.text(lead.credit_code),
                w.text(lead.origin),
                w.text(lead.industry),
                w.text(lead.chain),
                w.text(str(SOURCE_LABELS.get(lead.source, lead.source))),
                w.number(lead.investment_wan, WAN_FORMAT),
                w.text(lead.township.name),
                w.text(lead.primary_officer.display_name if lead.primary_officer else None),
                w.text(str(STAGE_LABELS.get(lead.stage, lead.stage))),
                w.date(lead.created_on),
                w.date(lead.planned_sign_date),
                w.date(lead.planned_start_date),
                w.date(lead.planned_production_date),
                w.date(lead.next_follow_up),
                w.text(lead.contact_name),
                w.text(lead.contact_phone),
                # extras
                w.number(yi(lead.investment_wan), YI_FORMAT),
                w.number(lead.funds_arrived_wan, WAN_FORMAT),
                w.text(str(COLOUR_LABELS[colour]) if colour else None),
                w.date(lead.stats_included_on),
                w.text(str(KEY_LEVEL_LABELS[lead.key_level]) if lead.key_level != "none" else None),
            ])
            n += 1
    wb.save(target)
    return n


def visit_rows_stmt(user: User, township_id: int | None, start: dt.date | None,
                    end: dt.date | None) -> sa.Select:
    """Visits on the leads ``user`` may see, by unit (when logged) and date range, oldest first."""
    stmt = (
        sa.select(Visit, Township.name)
        .join(Lead, Visit.lead_id == Lead.id)
        .join(Township, Township.id == Visit.township_id)
        .options(contains_eager(Visit.lead))
    )
    stmt = scope_leads(stmt, user)
    if township_id:
        stmt = stmt.where(Visit.township_id == township_id)
    if start:
        stmt = stmt.where(Visit.visited_on >= start)
    if end:
        stmt = stmt.where(Visit.visited_on <= end)
    return stmt.order_by(Visit.visited_on, Visit.id).execution_options(yield_per=CHUNK)


def write_visits_xlsx(user: User, township_id: int | None, start: dt.date | None,
                      end: dt.date | None, target) -> int:
    wb = Workbook(write_only=True)
    w = _Writer(wb.create_sheet(VISITS_SHEET))
    w.header(VISIT_HEADERS, VISIT_WIDTHS)
    n = 0
    with force_locale("zh_CN"):
        rows = db.session.execute(visit_rows_stmt(user, township_id, start, end))
        for visit, unit_name in rows:
            w.ws.append([
                w.date(visit.visited_on),
                w.text(unit_name),
                w.text(visit.lead.name),
                w.text(visit.lead.company),
                w.text(str(KIND_LABELS.get(visit.kind, visit.kind))),
                w.text(visit.user.display_name),
                w.text(visit.participants),
                w.text(visit.summary),
                w.text(visit.next_step),
                w.date(visit.next_follow_up),
            ])
            n += 1
    wb.save(target)
    return n
