"""The lead and visit lists as .xlsx workbooks (openpyxl write-only: rows go to disk, not memory).

The lead sheet's first columns are exactly the import template's (``TEMPLATE_COLUMNS`` in
crm/imports/mapping.py, the one list of them), so an export re-imports to the same leads, 终止
leads included; extra columns follow. Headers and labels are Chinese whatever the reader's
language. Amounts are numbers (万元 and 亿元), dates are date cells, and every text cell goes
through ``safe_text`` (no formula injection). Each sheet prints on A4 landscape, one page wide,
its header row on every page; long text wraps in rows tall enough for it.
"""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import contains_eager, joinedload

from crm.auth.models import User
from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.imports.mapping import AMOUNT_FIELDS, DATE_FIELDS, OFFICER_FIELD, TEMPLATE_COLUMNS
from crm.leads.colour import COLOUR_LABELS, colour_expr
from crm.leads.models import KEY_LEVEL_LABELS, SOURCE_LABELS, Lead
from crm.leads.pipeline import LOST, LOST_REASON_LABELS, STAGE_LABELS
from crm.leads.queries import SORTS, LeadFilter
from crm.money import plain_decimal, yi
from crm.spreadsheets import font, new_workbook, print_setup, row_height, safe_text
from crm.townships.models import Township
from crm.visits.models import KIND_LABELS, Visit

#: The import template's columns, in its order (the importer reads these names).
LEAD_IMPORT_HEADERS = tuple(header for _field, header in TEMPLATE_COLUMNS)
LEAD_EXTRA_HEADERS = ("计划投资(亿元)", "到位资金(万元)", "颜色")
LEAD_HEADERS = LEAD_IMPORT_HEADERS + LEAD_EXTRA_HEADERS
#: Column widths (in characters) by field; a field not named here gets its kind's width.
FIELD_WIDTHS = {
    "name": 26, "company": 26, "credit_code": 21, "township": 10, OFFICER_FIELD: 9,
    "sponsor": 9, "stage": 7, "lost_reason": 11, "contact_name": 9, "contact_phone": 14,
    "notes": 30, "source": 11, "jobs": 9, "land_mu": 9,
}
#: Fields whose text wraps (the rest are short: a date, a name, a number).
WRAPPED_FIELDS = {"name", "company", "notes", "origin", "industry", "chain", "sponsor"}
_KIND_WIDTHS = {"date": 11.5, "amount": 14, "text": 12}
EXTRA_WIDTHS = (16, 15, 7)
VISIT_HEADERS = ("走访日期", "所属镇街", "项目名称", "投资方", "方式", "走访人", "参与人员",
                 "走访内容", "下一步工作", "下次跟进")
VISIT_WIDTHS = (11.5, 10, 22, 22, 9, 9, 14, 48, 30, 11.5)
VISIT_WRAPPED = {2, 3, 6, 7, 8}  # 0-based: 项目名称, 投资方, 参与人员, 走访内容, 下一步工作
LEADS_SHEET, VISITS_SHEET = "项目", "走访记录"
CHUNK = 500
DATE_FORMAT = "yyyy-mm-dd"
WAN_FORMAT = "#,##0.####"
YI_FORMAT = "#,##0.00"
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFD9E1F2")
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(vertical="top", wrap_text=True)
#: Every cell of a row at its top, as the wrapped ones are, so a tall row reads as one line.
_TOP = Alignment(vertical="top")
#: The 颜色 cell's fill and text colour (ARGB), as the bulletin's.
COLOUR_CELLS = {"red": ("FFFFC7CE", "FF9C0006"), "yellow": ("FFFFEB9C", "FF9C5700"),
                "blue": ("FFBDD7EE", "FF1F4E79")}


def _kind(fld: str) -> str:
    if fld in DATE_FIELDS or fld == "lost_on":
        return "date"
    if fld in AMOUNT_FIELDS or fld in ("land_mu", "jobs"):
        return "amount"
    return "text"


def lead_widths() -> list[float]:
    return [FIELD_WIDTHS.get(f, _KIND_WIDTHS[_kind(f)]) for f, _h in TEMPLATE_COLUMNS] \
        + list(EXTRA_WIDTHS)


class _Writer:
    """Cells for one write-only sheet: styled with the sheet's font, wrapped where long."""

    def __init__(self, ws, widths):
        self.ws = ws
        self.widths = list(widths)
        self.row = 0

    def header(self, headers):
        for i, width in enumerate(self.widths, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        self.ws.freeze_panes = "A2"
        print_setup(self.ws, title_rows="1:1")
        cells = []
        for text in headers:
            cell = WriteOnlyCell(self.ws, value=text)
            cell.font, cell.fill, cell.alignment = font(bold=True), _HEADER_FILL, _HEADER_ALIGN
            cells.append(cell)
        self.append(cells, [(text, width) for text, width in zip(headers, self.widths,
                                                                 strict=True)])

    def append(self, cells, wrapped) -> None:
        """Append a row, as tall as its wrapped ``(text, width)`` cells need."""
        self.row += 1
        height = row_height(wrapped)
        if height:
            self.ws.row_dimensions[self.row].height = height
        self.ws.append(cells)

    def cell(self, value, alignment=_TOP):
        cell = WriteOnlyCell(self.ws, value=value)
        cell.alignment = alignment
        return cell

    def text(self, value):
        return self.cell(safe_text(value)) if value not in (None, "") else None

    def wrapped(self, value):
        return self.cell(safe_text(value), _WRAP) if value not in (None, "") else None

    def date(self, value: dt.date | None):
        if value is None:
            return None
        cell = self.cell(value)
        cell.number_format = DATE_FORMAT
        return cell

    def number(self, value: Decimal | int | None, fmt: str = WAN_FORMAT):
        if value is None:
            return None
        cell = self.cell(value if isinstance(value, int) else plain_decimal(Decimal(value)))
        cell.number_format = fmt
        return cell

    def colour(self, colour: str | None):
        if colour is None:
            return None
        fill, ink = COLOUR_CELLS[colour]
        cell = WriteOnlyCell(self.ws, value=str(COLOUR_LABELS[colour]))
        cell.fill = PatternFill(fill_type="solid", fgColor=fill)
        cell.font = font(bold=True, color=ink)
        cell.alignment = Alignment(horizontal="center", vertical="top")
        return cell


def _officer_name(lead: Lead) -> str | None:
    return lead.primary_officer.display_name if lead.primary_officer else None


#: How a template column's value is read from a lead, where it is not the attribute of the
#: field's name: labels for codes, names for ids.
LEAD_VALUES = {
    "source": lambda lead: str(SOURCE_LABELS.get(lead.source, lead.source or "")),
    "township": lambda lead: lead.township.name,
    OFFICER_FIELD: _officer_name,
    "stage": lambda lead: str(STAGE_LABELS.get(lead.stage, lead.stage)),
    "lost_reason": lambda lead: str(LOST_REASON_LABELS[lead.lost_reason])
    if lead.stage == LOST and lead.lost_reason else None,
    "lost_on": lambda lead: lead.stage_changed_on if lead.stage == LOST else None,
    "key_level": lambda lead: str(KEY_LEVEL_LABELS[lead.key_level])
    if lead.key_level and lead.key_level != "none" else None,
}


def _lead_cells(w: _Writer, lead: Lead) -> tuple[list, list]:
    """The template columns' cells of ``lead`` and its wrapped ``(text, width)`` pairs."""
    cells, wrapped = [], []
    for (fld, _header), width in zip(TEMPLATE_COLUMNS, w.widths, strict=False):
        read = LEAD_VALUES.get(fld)
        value = read(lead) if read else getattr(lead, fld, None)
        kind = _kind(fld)
        if kind == "date":
            cells.append(w.date(value))
        elif kind == "amount":
            cells.append(w.number(value))
        elif fld in WRAPPED_FIELDS:
            cells.append(w.wrapped(value))
            wrapped.append((value, width))
        else:
            cells.append(w.text(value))
    return cells, wrapped


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
    wb = new_workbook(write_only=True)
    w = _Writer(wb.create_sheet(LEADS_SHEET), lead_widths())
    w.header(LEAD_HEADERS)
    n = 0
    with force_locale("zh_CN"):
        for lead, colour in db.session.execute(lead_rows_stmt(user, flt, as_of)):
            cells, wrapped = _lead_cells(w, lead)
            cells += [
                w.number(yi(lead.investment_wan), YI_FORMAT),
                w.number(lead.funds_arrived_wan, WAN_FORMAT),
                w.colour(colour),
            ]
            w.append(cells, wrapped)
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
    wb = new_workbook(write_only=True)
    w = _Writer(wb.create_sheet(VISITS_SHEET), VISIT_WIDTHS)
    w.header(VISIT_HEADERS)
    n = 0
    with force_locale("zh_CN"):
        rows = db.session.execute(visit_rows_stmt(user, township_id, start, end))
        for visit, unit_name in rows:
            texts = [unit_name, visit.lead.name, visit.lead.company,
                     str(KIND_LABELS.get(visit.kind, visit.kind)), visit.user.display_name,
                     visit.participants, visit.summary, visit.next_step]
            cells = [w.date(visit.visited_on)]
            for i, value in enumerate(texts, start=1):
                cells.append(w.wrapped(value) if i in VISIT_WRAPPED else w.text(value))
            cells.append(w.date(visit.next_follow_up))
            w.append(cells, [(texts[i - 1], VISIT_WIDTHS[i]) for i in VISIT_WRAPPED])
            n += 1
    wb.save(target)
    return n
