"""Reading an uploaded spreadsheet into a header and rows, refusing what is not a plain table.

Accepted: .xlsx (no macros, no formula cells) and .csv (UTF-8 with or without BOM, else GBK/GB18030).
Refused, with a message for the user: other types, files that only pretend to be spreadsheets,
macro-enabled workbooks, formula cells, files over the size or row limit.
"""

import csv
import functools
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from crm.imports.errors import ImportRefused
from crm.imports.mapping import SAMPLE_MARKER, combined_header_field, header_field, norm_text
from crm.imports.xlsx import Budget, read_rows

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 100
#: Cells (and rows) of a sheet read at most: 5,000 rows of 40 filled columns.
MAX_CELLS = 200_000
#: The shared-strings table (every text of an .xlsx) uncompressed.
MAX_SHARED_STRINGS = 16 * 1024 * 1024
#: A backstop: reading stops after this many seconds whatever the file holds.
MAX_SECONDS = 10
#: How far down the sheet the header row may start (a title and notes above it).
HEADER_SEARCH_ROWS = 20
#: Uncompressed size a 5 MB .xlsx may reach before it is treated as a zip bomb.
MAX_UNZIPPED = 200 * 1024 * 1024
#: A line of a CSV file with more separators than this is not a table of ours.
MAX_CSV_SEPARATORS = 16_384
EXTENSIONS = (".xlsx", ".csv")

__all__ = ["EXTENSIONS", "ImportRefused", "Table", "budget", "limits", "read_table"]


@dataclass
class Column:
    index: int
    header: str  # as shown to the user, e.g. "计划日期/签约"
    field: str | None
    unit: str | None = None


@dataclass
class Table:
    columns: list[Column]
    #: (row number in the file, 1-based as the user sees it; the cells). ``preview(...,
    #: release=True)`` takes them, letting each row's cells go once the row is checked.
    rows: list[tuple[int, tuple]] = field(default_factory=list)
    #: (row number, why) of rows left out: the template's sample row (``SAMPLE_MARKER``)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @functools.cached_property
    def fields(self) -> dict[str, Column]:
        """Field -> its first column (read for every cell of every row: made once)."""
        out = {}
        for column in self.columns:
            if column.field and column.field not in out:
                out[column.field] = column
        return out

    @property
    def unknown_headers(self) -> list[str]:
        return [c.header for c in self.columns if c.field is None and c.header]


def _setting(name: str, default):
    return current_app.config.get(name, default) if has_app_context() else default


def limits() -> tuple[int, int]:
    return _setting("CRM_IMPORT_MAX_BYTES", MAX_BYTES), _setting("CRM_IMPORT_MAX_ROWS", MAX_ROWS)


def budget() -> Budget:
    """What reading one file may cost (the app's settings, else the defaults above)."""
    return Budget(
        max_rows=_setting("CRM_IMPORT_MAX_ROWS", MAX_ROWS),
        max_columns=_setting("CRM_IMPORT_MAX_COLUMNS", MAX_COLUMNS),
        max_cells=_setting("CRM_IMPORT_MAX_CELLS", MAX_CELLS),
        max_shared_strings_bytes=_setting("CRM_IMPORT_MAX_SHARED_STRINGS", MAX_SHARED_STRINGS),
        max_seconds=_setting("CRM_IMPORT_MAX_SECONDS", MAX_SECONDS),
        max_unzipped=MAX_UNZIPPED,
        # the header (up to two rows) and a title above it do not count
        header_rows=HEADER_SEARCH_ROWS + 2,
    )


def read_table(path, filename: str | None = None) -> Table:
    """Read ``path`` (its type taken from ``filename`` or the path's own name)."""
    path = Path(path)
    name = (filename or path.name).lower()
    max_bytes, _max_rows = limits()
    suffix = Path(name).suffix
    if suffix in (".xlsm", ".xltm", ".xlsb", ".xlam"):
        raise ImportRefused(_l("不接受含宏的工作簿（%(ext)s）：请另存为 .xlsx 后再导入", ext=suffix))
    if suffix == ".xls":
        raise ImportRefused(_l("不支持旧版 .xls 文件：请在 Excel 或 WPS 中另存为 .xlsx 后再导入"))
    if suffix not in EXTENSIONS:
        raise ImportRefused(_l("只能导入 .xlsx 或 .csv 表格文件"))
    size = path.stat().st_size
    if size > max_bytes:
        raise ImportRefused(_l("文件过大（%(size)s MB），上限为 %(max)s MB",
                               size=format(size / 1048576, ".1f"), max=format(max_bytes / 1048576, "g")))
    if size == 0:
        raise ImportRefused(_l("文件是空的"))
    limit = budget()
    if suffix == ".xlsx":
        raw_rows = _xlsx_rows(path, limit)
    else:
        raw_rows = _csv_rows(path.read_bytes(), limit)
    return _table(raw_rows)


def _xlsx_rows(path: Path, limit: Budget):
    """The rows that hold a value, checked before (the zip's directory) and while reading."""
    if not zipfile.is_zipfile(path):
        raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件"))
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            total = sum(info.file_size for info in archive.infolist())
            if "xl/workbook.xml" not in names:
                raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件"))
            if any("vbaproject" in n.lower() for n in names) or _declares_macros(archive, names):
                raise ImportRefused(_l("文件含有宏（VBA 代码），不予导入：请另存为不含宏的 .xlsx"))
            if any(n.lower().startswith(("xl/activex", "xl/embeddings")) for n in names):
                raise ImportRefused(_l("文件含有控件或嵌入对象，不予导入：请只保留表格内容"))
            if total > limit.max_unzipped:
                raise ImportRefused(_l("文件内容过大（解压后超过 %(mb)s MB），不予导入",
                                       mb=format(limit.max_unzipped / 1048576, "g")))
            return read_rows(archive, limit)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件")) from exc


def _declares_macros(archive: zipfile.ZipFile, names) -> bool:
    name = "[Content_Types].xml"
    if name not in names:
        return False
    info = archive.getinfo(name)
    if info.file_size > 1024 * 1024:
        raise ImportRefused(_l("无法读取该 Excel 文件：文件可能已损坏"))
    with archive.open(info) as stream:
        return b"macroEnabled" in stream.read(1024 * 1024 + 1)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportRefused(_l("无法识别文件编码：请保存为 UTF-8 或 GBK 编码的 CSV")) from exc


def _csv_rows(data: bytes, limit: Budget):
    if b"\x00" in data[:8192] or data[:4] in (b"\x89PNG", b"PK\x03\x04", b"%PDF") \
            or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportRefused(_l("该文件不是 CSV 文本表格"))
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    # a row of millions of empty fields would cost a string each: counted before parsing
    separator = dialect.delimiter
    if any(line.count(separator) > MAX_CSV_SEPARATORS for line in text.splitlines()):
        raise ImportRefused(_l("列数过多：最多 %(n)s 列，不予导入", n=limit.max_columns))
    rows = []
    cells = 0
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for number, row in enumerate(reader, start=1):
            cells += min(len(row), limit.max_columns) + 1
            if cells > limit.max_cells:
                raise ImportRefused(_l("单元格过多：一个表格最多 %(n)s 个单元格，不予导入",
                                       n=limit.max_cells))
            if any(v.strip() for v in row[limit.max_columns:]):
                raise ImportRefused(_l("列数过多：最多 %(n)s 列（第%(row)s行超出），不予导入",
                                       n=limit.max_columns, row=number))
            values = row[:limit.max_columns]
            for value in values:
                if value.startswith("=") and len(value) > 1:
                    raise ImportRefused(_l(
                        "第%(n)s行含有公式（以“=”开头的单元格），不予导入", n=number))
            rows.append((number, values))
            if len(rows) > limit.max_rows + limit.header_rows:
                raise ImportRefused(_l("行数过多，一次最多导入 %(n)s 行", n=limit.max_rows))
    except csv.Error as exc:
        raise ImportRefused(_l("CSV 文件格式有误：%(e)s", e=str(exc))) from exc
    return rows


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _table(raw_rows) -> Table:
    """The header found in the first rows, then every data row (rows in file order, with
    their numbers; an .xlsx gives only the rows that hold a value)."""
    header_at = None
    for i, (number, values) in enumerate(raw_rows):
        if number > HEADER_SEARCH_ROWS:
            break
        if any(header_field(v)[0] == "name" for v in values if isinstance(v, str)):
            header_at = i
            break
    if header_at is None:
        raise ImportRefused(_l("找不到表头：表格前%(n)s行中须有“项目名称”列", n=HEADER_SEARCH_ROWS))
    header = list(raw_rows[header_at][1])
    name_col = next(i for i, v in enumerate(header)
                    if isinstance(v, str) and header_field(v)[0] == "name")
    first_data = header_at + 1
    sub = None
    if first_data < len(raw_rows) and raw_rows[first_data][0] == raw_rows[header_at][0] + 1:
        candidate = list(raw_rows[first_data][1])
        if _is_subheader(header, candidate, name_col):
            sub = candidate
            first_data += 1
    width = max([len(header), len(sub or [])])
    header += [None] * (width - len(header))
    sub = (sub or []) + [None] * (width - len(sub or []))
    columns = []
    parent = None
    for index in range(width):
        top = norm_text(header[index])
        below = norm_text(sub[index])
        if top:
            parent = top
        elif not below:
            parent = None
        if below:
            # a merged parent spans the empty cells to its right ("unmerged" by filling it in)
            owner = top or parent or ""
            fld, unit = combined_header_field(owner, below)
            shown = f"{owner}/{below}" if owner and owner != below else below
        else:
            fld, unit = header_field(top)
            shown = top
        columns.append(Column(index, shown, fld, unit))
    fields = [c.field for c in columns if c.field]
    missing = [label for fld, label in (("name", "项目名称"), ("company", "投资方"))
               if fld not in fields]
    if missing:
        raise ImportRefused(_l("表头缺少必需的列：%(cols)s", cols="、".join(missing)))
    table = Table(columns)
    _max_bytes, max_rows = limits()
    notes = table.fields.get("notes")
    for i in range(first_data, len(raw_rows)):
        number, values = raw_rows[i]
        raw_rows[i] = None  # each row's cells are held once (100,000 rows: ~100 MB each copy)
        if all(_blank(v) for v in values):
            continue
        values = (*values[:width], *(None,) * (width - len(values)))
        if notes is not None and norm_text(values[notes.index]).startswith(SAMPLE_MARKER):
            table.skipped.append((number, str(_l("模板的示例行，未导入"))))
            continue
        table.rows.append((number, values))
        if len(table.rows) > max_rows:
            raise ImportRefused(_l("行数过多，一次最多导入 %(n)s 行", n=max_rows))
    if not table.rows:
        if table.skipped:
            raise ImportRefused(_l("表格中没有数据行（模板的示例行不导入）"))
        raise ImportRefused(_l("表格中没有数据行"))
    return table


def _is_subheader(header, candidate, name_col) -> bool:
    """Whether the row under the header is the second row of a two-row header."""
    if name_col < len(candidate) and not _blank(candidate[name_col]):
        return False
    filled = [(i, v) for i, v in enumerate(candidate) if not _blank(v)]
    if not filled:
        return False
    parent = ""
    parents = []
    for i in range(len(candidate)):
        top = norm_text(header[i]) if i < len(header) else ""
        parent = top or parent
        parents.append(parent)
    return all(isinstance(v, str) and combined_header_field(parents[i], v)[0] for i, v in filled)
