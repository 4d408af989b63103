"""The import template: the columns the importer reads, a marked sample row, printable."""

from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from crm.imports.mapping import SAMPLE_MARKER, TEMPLATE_COLUMNS
from crm.spreadsheets import FONT_NAME, font, new_workbook, print_setup, row_height, text_width

SHEET = "项目导入"
_WIDE = {"name": 24, "company": 26, "credit_code": 21, "notes": 26}
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFD9E1F2")
#: The sample row reads as one: grey italics (and its 备注 starts with ``SAMPLE_MARKER``, which
#: the importer skips, so it never becomes a lead).
_SAMPLE_FONT = Font(name=FONT_NAME, size=11, italic=True, color="FF808080", charset=134, family=3)


def write_template(example: dict, target) -> None:
    """The template with one sample row built from ``example`` (field → text) to ``target``."""
    workbook = new_workbook()
    sheet = workbook.active
    sheet.title = SHEET
    widths = [_WIDE.get(f, max(11, text_width(h) + 2)) for f, h in TEMPLATE_COLUMNS]
    headers = [header for _f, header in TEMPLATE_COLUMNS]
    sheet.append(headers)
    sample = dict(example, notes=f"{SAMPLE_MARKER}，导入时自动跳过，可删除")
    sheet.append([sample.get(f, "") for f, _h in TEMPLATE_COLUMNS])
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
        head = sheet.cell(1, column)
        head.font, head.fill = font(bold=True), _HEADER_FILL
        head.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell = sheet.cell(2, column)
        cell.font = _SAMPLE_FONT
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    sheet.row_dimensions[1].height = row_height(zip(headers, widths, strict=True))
    sheet.row_dimensions[2].height = row_height(
        (sample.get(f, ""), w) for (f, _h), w in zip(TEMPLATE_COLUMNS, widths, strict=True))
    sheet.freeze_panes = "A2"
    print_setup(sheet, title_rows="1:1")
    workbook.save(target)
