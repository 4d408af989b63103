"""Spreadsheet safety, one rule for every export and the importer (OWASP "CSV injection")."""

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

#: A text cell starting with one of these is read as a formula by spreadsheets, or becomes one
#: when the cell is edited or the sheet saved as CSV.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value) -> str:
    """Text that no spreadsheet will take for a formula, without characters XML forbids.

    A text starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe, as
    OWASP advises: it survives a later "save as CSV", which a style flag would not.
    """
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value or ""))
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return text


def unguarded(text: str) -> str:
    """Undo ``safe_text``'s apostrophe when reading our own exports back in."""
    if text.startswith("'") and text[1:2] in FORMULA_TRIGGERS:
        return text[1:]
    return text


# --- how a sheet prints and reads: one font, A4 landscape, widths and heights ------------------

#: The font of every cell: 宋体 (SimSun), as WPS and Excel in Chinese offices use; charset 134
#: (GB2312) and family 3 let a machine without it pick a CJK font of the same kind.
FONT_NAME = "宋体"
FONT_SIZE = 11
#: Points per line of 11-point text, with the cell's padding.
_LINE_POINTS = 15.0


def font(*, bold: bool = False, size: float = FONT_SIZE, color: str | None = None):
    """The sheet's font with its name and size always set (a bold or coloured cell included),
    so no cell falls back to the reader's default (a serif on LibreOffice)."""
    from openpyxl.styles import Font

    return Font(name=FONT_NAME, size=size, bold=bold, color=color, charset=134, family=3)


def new_workbook(*, write_only: bool = False):
    """A workbook whose default (Normal) font is ``font()``: cells written without a style
    (most cells of a streamed export) use it too."""
    from openpyxl import Workbook
    from openpyxl.utils.indexed_list import IndexedList

    workbook = Workbook(write_only=write_only)
    # openpyxl takes the Normal style's font from the first entry of the font table.
    workbook._fonts = IndexedList([font()])  # noqa: SLF001 (openpyxl has no public setter)
    return workbook


def print_setup(ws, *, title_rows: str = "1:1") -> None:
    """A4 landscape, every column on one page's width, ``title_rows`` repeated on each page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4 (Worksheet.PAPERSIZE_A4; a write-only sheet lacks it)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = title_rows
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.print_options.horizontalCentered = True


def text_width(text: str) -> int:
    """The width of a line in column-width units: a Chinese (wide) character counts two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def lines_needed(value, width: float) -> int:
    """How many lines ``value`` takes wrapped in a column ``width`` wide."""
    if value is None or value == "":
        return 1
    usable = max(1.0, width - 1.5)
    return sum(max(1, -(-text_width(part) // int(usable))) for part in str(value).split("\n"))


def row_height(cells, *, size: float = FONT_SIZE) -> float | None:
    """The height (points) a row of wrapped ``(value, column width)`` cells needs, or None when
    one line is enough (the default height)."""
    lines = max((lines_needed(value, width) for value, width in cells), default=1)
    if lines <= 1:
        return None
    return round(lines * _LINE_POINTS * size / FONT_SIZE + 3, 1)
