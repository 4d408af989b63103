"""Word documents (.docx) in the style of a government 通报/督办单: A4, red header, tables.

Only layout lives here (python-docx); each feature fills the document with its own content.
"""

import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
RED = RGBColor(0xC0, 0x00, 0x00)
#: Fills of the project colours (the workbook's: light red, yellow, light blue).
FILLS = {"red": "FFC7CE", "yellow": "FFEB9C", "blue": "BDD7EE"}
HEADER_FILL = "D9E1F2"
#: Chinese fonts in the order Word and LibreOffice look for them.
BODY_FONT, TITLE_FONT = "宋体", "方正小标宋简体"


def _font(run, name: str, size: float | None = None, bold=None, colour=None) -> None:
    run.font.name = name
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)
    if size:
        run.font.size = Pt(size)
    if bold is not None:
        run.font.bold = bold
    if colour is not None:
        run.font.color.rgb = colour


def new_document(*, landscape: bool = False):
    """An empty A4 document with Chinese body text."""
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Mm(20))
    section.top_margin, section.bottom_margin = Mm(25), Mm(20)
    style = document.styles["Normal"]
    style.font.name = BODY_FONT
    style.font.size = Pt(11)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    return document


def red_header(document, issuer: str, number_line: str, title: str) -> None:
    """The red masthead (issuer in large red type, a red rule), then the number and title."""
    head = document.add_paragraph()
    head.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(head.add_run(issuer), TITLE_FONT, 26, True, RED)
    line = document.add_paragraph()
    line.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(line.add_run(number_line), BODY_FONT, 12)
    _red_rule(line)
    heading = document.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(heading.add_run(title), TITLE_FONT, 18, True)


def _red_rule(paragraph) -> None:
    p_pr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "18"), ("w:space", "4"),
                       ("w:color", "C00000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    p_pr.append(borders)


def heading(document, text: str) -> None:
    paragraph = document.add_paragraph()
    _font(paragraph.add_run(text), "黑体", 14, True)


def paragraph(document, text: str, *, bold: bool = False) -> None:
    _font(document.add_paragraph().add_run(text), BODY_FONT, 11, bold)


def shade(cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    tc_pr.append(shading)


def table(document, headers: list[str], rows: list[list], fills: list[dict] | None = None):
    """A bordered table: a shaded header row, then ``rows`` (text); ``fills[i]`` maps a column
    index of row i to a fill colour (a key of FILLS or a hex colour)."""
    grid = document.add_table(rows=1, cols=len(headers))
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(grid.rows[0].cells, headers, strict=True):
        cell.text = ""
        _font(cell.paragraphs[0].add_run(str(text)), BODY_FONT, 10, True)
        shade(cell, HEADER_FILL)
    for index, values in enumerate(rows):
        cells = grid.add_row().cells
        for column, value in enumerate(values):
            cells[column].text = ""
            _font(cells[column].paragraphs[0].add_run("" if value is None else str(value)),
                  BODY_FONT, 10)
        for column, colour in ((fills or [{}] * len(rows))[index] or {}).items():
            if colour:
                shade(cells[column], FILLS.get(colour, colour))
    return grid


def to_bytes(document) -> bytes:
    stream = io.BytesIO()
    document.save(stream)
    return stream.getvalue()
