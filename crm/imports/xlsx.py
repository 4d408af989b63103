"""Streaming .xlsx reading within a budget: the first worksheet's rows, never more than allowed.

The workbook's XML is fed to expat in small chunks straight from the zip member, so nothing is
read that the budget does not allow: reading stops at the first row, column, cell or shared-string
limit that is crossed (and, as a backstop, at the time limit), with ``ImportRefused`` naming it.
openpyxl is not used to read: it parses every cell of a row whatever ``max_col`` says.
"""

import time
import xml.parsers.expat
import zipfile
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import (
    CALENDAR_MAC_1904,
    CALENDAR_WINDOWS_1900,
    from_excel,
    from_ISO8601,
)

from crm.imports.errors import ImportRefused

#: Read this much of a zip member at a time (the most held in memory besides the results).
CHUNK = 64 * 1024
#: Excel's own largest sheet: a reference beyond it is not a spreadsheet's.
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384
#: Deepest element nesting of a spreadsheet part (a cell's rich text is about 6 deep).
MAX_DEPTH = 32
#: Small parts (workbook, relationships, styles) larger than this are refused outright.
MAX_SMALL_PART = 8 * 1024 * 1024
#: How often (in XML elements) the clock and the element count are looked at (a power of 2).
_CLOCK_EVERY = 2048

_DAMAGED = _l("无法读取该 Excel 文件：文件可能已损坏")


@dataclass(frozen=True)
class Budget:
    """What one reading may cost; every limit is checked while reading, never after."""

    max_rows: int
    max_columns: int
    max_cells: int
    max_shared_strings_bytes: int
    max_seconds: float
    max_unzipped: int
    #: rows above the data allowed on top of ``max_rows`` (a title, notes, a two-row header)
    header_rows: int = 0


class _Reader:
    """One pass over the parts of one workbook, sharing the budget and the clock."""

    def __init__(self, archive: zipfile.ZipFile, budget: Budget):
        self.archive = archive
        self.budget = budget
        self.deadline = time.monotonic() + budget.max_seconds
        self.elements = 0
        #: every element of every part: cells, their values and anything else a file may hold
        self.max_elements = 3 * budget.max_cells + 50_000

    # ------------------------------------------------------------------ the machinery

    def checkpoint(self, elements: int, depth: int) -> None:
        """Every _CLOCK_EVERY elements, and at any depth over the limit."""
        if depth > MAX_DEPTH:
            raise ImportRefused(_l("文件结构嵌套过深（超过 %(n)s 层），不予导入", n=MAX_DEPTH))
        self.elements += _CLOCK_EVERY
        self.check_clock()
        if self.elements > self.max_elements:
            raise ImportRefused(_l("文件结构过于复杂（超过 %(n)s 个元素），不予导入",
                                   n=self.max_elements))

    def check_clock(self) -> None:
        if time.monotonic() > self.deadline:
            raise ImportRefused(_l("读取超时：超过 %(n)s 秒仍未读完，文件过于复杂，不予导入",
                                   n=format(self.budget.max_seconds, "g")))

    def parse(self, name: str, handler, *, max_bytes: int, too_big) -> None:
        """Feed the member ``name`` to ``handler`` (start, end, text) in chunks.

        ``too_big`` is the refusal when the member's declared or actual size exceeds ``max_bytes``.
        """
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise ImportRefused(_DAMAGED) from None
        if info.file_size > max_bytes:
            raise ImportRefused(too_big)
        parser = xml.parsers.expat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = CHUNK
        depth = elements = 0
        on_start, on_end, every = handler.start, handler.end, _CLOCK_EVERY - 1

        # called for every element: kept short (a prefix "x:" is dropped from the name)
        def start(tag, attrs):
            nonlocal depth, elements
            depth += 1
            elements += 1
            if depth > MAX_DEPTH or not elements & every:
                self.checkpoint(elements, depth)
            on_start(tag[tag.find(":") + 1:], attrs)

        def end(tag):
            nonlocal depth
            depth -= 1
            on_end(tag[tag.find(":") + 1:])

        def doctype(*_args):
            raise ImportRefused(_l("文件含有 DTD 声明，不是 Excel 保存的表格，不予导入"))

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = handler.text
        parser.StartDoctypeDeclHandler = doctype
        parser.EntityDeclHandler = doctype
        read = 0
        try:
            with self.archive.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    read += len(chunk)
                    if read > max_bytes:  # the declared size lied
                        raise ImportRefused(too_big)
                    parser.Parse(chunk, False)
                    self.check_clock()
                parser.Parse(b"", True)
        except ImportRefused:
            raise
        except (xml.parsers.expat.ExpatError, zipfile.BadZipFile, OSError, EOFError,
                ValueError, IndexError, KeyError, OverflowError, NotImplementedError) as exc:
            raise ImportRefused(_DAMAGED) from exc

    def small(self, name: str, handler) -> None:
        self.parse(name, handler, max_bytes=MAX_SMALL_PART, too_big=_l(
            "文件内容过大（%(part)s 超过 %(mb)s MB），不予导入",
            part=name, mb=MAX_SMALL_PART // 1048576))

    # ------------------------------------------------------------------ the parts

    def rows(self) -> list[tuple[int, list]]:
        names = set(self.archive.namelist())
        workbook = _Workbook()
        self.small("xl/workbook.xml", workbook)
        rels = _Relationships()
        if "xl/_rels/workbook.xml.rels" in names:
            self.small("xl/_rels/workbook.xml.rels", rels)
        sheet = next((rels.targets[rid] for rid in workbook.sheet_ids
                      if rels.types.get(rid) == "worksheet" and rels.targets.get(rid) in names),
                     None)
        if sheet is None:
            sheet = "xl/worksheets/sheet1.xml" if "xl/worksheets/sheet1.xml" in names else None
        if sheet is None:
            raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件"))
        styles = _Styles()
        styles_part = rels.part("styles", "xl/styles.xml")
        if styles_part in names:
            self.small(styles_part, styles)
        strings: list[str] = []
        strings_part = rels.part("sharedStrings", "xl/sharedStrings.xml")
        if strings_part in names:
            handler = _SharedStrings(self.budget.max_cells)
            limit = self.budget.max_shared_strings_bytes
            self.parse(strings_part, handler, max_bytes=limit, too_big=_l(
                "文本内容过多：共享字符串表超过 %(mb)s MB，不予导入", mb=format(limit / 1048576, "g")))
            strings = handler.strings
        cells = _Sheet(self.budget, strings, styles.date_styles(),
                       CALENDAR_MAC_1904 if workbook.date1904 else CALENDAR_WINDOWS_1900)
        self.parse(sheet, cells, max_bytes=self.budget.max_unzipped, too_big=_l(
            "文件内容过大（解压后超过 %(mb)s MB），不予导入",
            mb=format(self.budget.max_unzipped / 1048576, "g")))
        return cells.rows


def read_rows(archive: zipfile.ZipFile, budget: Budget) -> list[tuple[int, list]]:
    """The first worksheet's rows that hold a value: (row number, values from column A)."""
    return _Reader(archive, budget).rows()


# ---------------------------------------------------------------------- part handlers


class _Part:
    def start(self, tag, attrs):
        pass

    def end(self, tag):
        pass

    def text(self, data):
        pass


class _Workbook(_Part):
    def __init__(self):
        self.sheet_ids: list[str] = []
        self.date1904 = False

    def start(self, tag, attrs):
        if tag == "sheet":
            rid = next((v for k, v in attrs.items() if k.rpartition(":")[2] == "id"
                        and k != "sheetId"), None)
            if rid:
                self.sheet_ids.append(rid)
        elif tag == "workbookPr":
            self.date1904 = attrs.get("date1904", "").lower() in ("1", "true")


class _Relationships(_Part):
    def __init__(self):
        self.targets: dict[str, str] = {}
        self.types: dict[str, str] = {}

    def start(self, tag, attrs):
        if tag == "Relationship" and attrs.get("Id") and attrs.get("Target"):
            target = attrs["Target"]
            target = target[1:] if target.startswith("/") else f"xl/{target}"
            self.targets[attrs["Id"]] = target
            self.types[attrs["Id"]] = attrs.get("Type", "").rpartition("/")[2]

    def part(self, kind: str, default: str) -> str:
        return next((self.targets[rid] for rid, t in self.types.items() if t == kind), default)


class _Styles(_Part):
    """Which cell styles show a number as a date (openpyxl's own rule)."""

    def __init__(self):
        self.formats: dict[int, str] = {}
        self.xf_formats: list[int] = []
        self._in_xfs = False

    def start(self, tag, attrs):
        if tag == "numFmt":
            try:
                self.formats[int(attrs.get("numFmtId", ""))] = attrs.get("formatCode", "")
            except ValueError:
                pass
        elif tag == "cellXfs":
            self._in_xfs = True
        elif tag == "xf" and self._in_xfs:
            try:
                self.xf_formats.append(int(attrs.get("numFmtId", 0)))
            except ValueError:
                self.xf_formats.append(0)

    def end(self, tag):
        if tag == "cellXfs":
            self._in_xfs = False

    def date_styles(self) -> dict[int, bool]:
        """style index → whether it is a duration (True) or a date (False), dates only."""
        out = {}
        for index, fmt_id in enumerate(self.xf_formats):
            code = self.formats.get(fmt_id, BUILTIN_FORMATS.get(fmt_id, "General"))
            if is_date_format(code):
                out[index] = is_timedelta_format(code)
        return out


class _SharedStrings(_Part):
    """Every string of the table (rich text joined, phonetic guides left out), counted."""

    def __init__(self, max_strings: int):
        self.max_strings = max_strings
        self.strings: list[str] = []
        self._parts: list[str] | None = None
        self._in_t = False
        self._phonetic = 0

    def start(self, tag, attrs):
        if tag == "si":
            if len(self.strings) >= self.max_strings:
                raise ImportRefused(_l("文本内容过多：共享字符串超过 %(n)s 条，不予导入",
                                       n=self.max_strings))
            self._parts = []
        elif tag == "rPh":
            self._phonetic += 1
        elif tag == "t" and not self._phonetic:
            self._in_t = True

    def end(self, tag):
        if tag == "si" and self._parts is not None:
            self.strings.append("".join(self._parts).replace("x005F_", ""))
            self._parts = None
        elif tag == "rPh":
            self._phonetic -= 1
        elif tag == "t":
            self._in_t = False

    def text(self, data):
        if self._in_t and self._parts is not None:
            self._parts.append(data)


def _column_number(ref: str) -> int:
    """"AB12" → 28; 0 when ``ref`` holds no column letters."""
    number = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            number = number * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            number = number * 26 + ord(ch) - 96
        else:
            break
        if number > EXCEL_COLUMNS:
            break
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class _Sheet(_Part):
    """The rows of a worksheet, refusing at the first limit crossed."""

    def __init__(self, budget: Budget, strings, date_styles, epoch):
        self.budget = budget
        self.strings = strings
        self.date_styles = date_styles
        self.epoch = epoch
        self.max_rows = budget.max_rows + budget.header_rows
        self.rows: list[tuple[int, list]] = []
        self.cells = 0
        self.row_number = 0
        self.values: dict[int, object] | None = None
        self.column = 0
        self.cell: dict | None = None
        self._text: list[str] | None = None
        self._phonetic = 0

    def start(self, tag, attrs):
        if tag == "c":
            if self.values is None:
                raise ValueError("cell outside a row")
            self.cells += 1
            if self.cells > self.budget.max_cells:
                raise ImportRefused(_l("单元格过多：一个表格最多 %(n)s 个单元格，不予导入",
                                       n=self.budget.max_cells))
            ref = attrs.get("r")
            column = _column_number(ref) if ref else self.column + 1
            if column > EXCEL_COLUMNS:
                raise ImportRefused(_l("列数过多：最多 %(n)s 列（第%(row)s行超出），不予导入",
                                       n=self.budget.max_columns, row=self.row_number))
            if column <= self.column:
                raise ValueError(f"cell {ref} out of order")
            self.column = column
            self.cell = {"t": attrs.get("t", "n"), "s": attrs.get("s"), "v": None,
                         "f": False, "is": None}
        elif tag == "row":
            self.cells += 1  # an empty row costs as much as a cell to read
            if self.cells > self.budget.max_cells:
                raise ImportRefused(_l("单元格过多：一个表格最多 %(n)s 个单元格，不予导入",
                                       n=self.budget.max_cells))
            ref = attrs.get("r")
            number = int(ref) if ref else self.row_number + 1
            if number <= self.row_number or number > EXCEL_ROWS:
                raise ValueError(f"row {ref} out of order")
            self.row_number = number
            self.values = {}
            self.column = 0
        elif self.cell is not None:
            if tag in ("v", "t") and not self._phonetic:
                self._text = []
            elif tag == "f":
                self.cell["f"] = True
            elif tag == "is":
                self.cell["is"] = []
            elif tag == "rPh":
                self._phonetic += 1

    def text(self, data):
        if self._text is not None:
            self._text.append(data)

    def end(self, tag):
        cell = self.cell
        if tag == "c" and cell is not None:
            self._store(cell)
            self.cell = None
        elif tag == "row" and self.values is not None:
            if self.values:
                if len(self.rows) >= self.max_rows:
                    raise ImportRefused(_l("行数过多，一次最多导入 %(n)s 行",
                                           n=self.budget.max_rows))
                width = max(self.values)
                row = [None] * width
                for column, value in self.values.items():
                    row[column - 1] = value
                self.rows.append((self.row_number, row))
            self.values = None
        elif cell is not None:
            if tag == "rPh":
                self._phonetic -= 1
            elif tag == "v" and self._text is not None:
                cell["v"] = "".join(self._text)
                self._text = None
            elif tag == "t" and self._text is not None:
                if cell["is"] is not None:
                    cell["is"].append("".join(self._text))
                self._text = None

    def _ref(self) -> str:
        """The current cell's name as Excel shows it ("AB12"), for a message."""
        return f"{_column_letters(self.column)}{self.row_number}"

    def _store(self, cell) -> None:
        if cell["f"]:
            raise ImportRefused(_l(
                "单元格 %(ref)s 含有公式，不予导入：请复制后“选择性粘贴为数值”再导入",
                ref=self._ref()))
        value = self._value(cell)
        if value is None or value == "":
            return  # an empty (perhaps styled) cell: costs a cell, holds nothing
        if isinstance(value, str) and value.startswith("=") and len(value) > 1:
            raise ImportRefused(_l(
                "单元格 %(ref)s 含有公式，不予导入：请复制后“选择性粘贴为数值”再导入",
                ref=self._ref()))
        if self.column > self.budget.max_columns:
            raise ImportRefused(_l("列数过多：最多 %(n)s 列（单元格 %(ref)s 超出），不予导入",
                                   n=self.budget.max_columns, ref=self._ref()))
        self.values[self.column] = value

    def _value(self, cell):
        kind, raw = cell["t"], cell["v"] or None
        if kind == "inlineStr":
            return "".join(cell["is"]) if cell["is"] is not None else None
        if raw is None:
            return None
        if kind == "s":
            return self.strings[int(raw)]
        if kind == "b":
            return bool(int(raw))
        if kind in ("str", "e"):
            return raw
        if kind == "d":
            return from_ISO8601(raw)
        number = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
        style = int(cell["s"]) if cell["s"] else 0
        if style in self.date_styles:
            try:
                return from_excel(number, self.epoch, timedelta=self.date_styles[style])
            except (OverflowError, ValueError):
                return "#VALUE!"
        return number
