"""Reading an uploaded spreadsheet into a header and rows, refusing what is not a plain table.

Accepted: .xlsx (no macros, no formula cells) and .csv (UTF-8 with or without BOM, else GBK/GB18030).
Refused, with a message for the user: other types, files that only pretend to be spreadsheets,
macro-enabled workbooks, formula cells, files over the size or row limit.
"""

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from crm.imports.mapping import combined_header_field, header_field, norm_text

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 100
#: How far down the sheet the header row may start (a title and notes above it).
HEADER_SEARCH_ROWS = 20
#: Uncompressed size a 5 MB .xlsx may reach before it is treated as a zip bomb.
MAX_UNZIPPED = 200 * 1024 * 1024
EXTENSIONS = (".xlsx", ".csv")


class ImportRefused(Exception):
    """The file cannot be imported at all; ``message`` says why (nothing was read or written)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass
class Column:
    index: int
    header: str  # as shown to the user, e.g. "计划日期/签约"
    field: str | None
    unit: str | None = None


@dataclass
class Table:
    columns: list[Column]
    #: (row number in the file, 1-based as the user sees it; the cells)
    rows: list[tuple[int, list]] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, Column]:
        out = {}
        for column in self.columns:
            if column.field and column.field not in out:
                out[column.field] = column
        return out

    @property
    def unknown_headers(self) -> list[str]:
        return [c.header for c in self.columns if c.field is None and c.header]


def limits() -> tuple[int, int]:
    if has_app_context():
        return (current_app.config.get("CRM_IMPORT_MAX_BYTES", MAX_BYTES),
                current_app.config.get("CRM_IMPORT_MAX_ROWS", MAX_ROWS))
    return MAX_BYTES, MAX_ROWS


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
                               size=f"{size / 1048576:.1f}", max=f"{max_bytes / 1048576:g}"))
    if size == 0:
        raise ImportRefused(_l("文件是空的"))
    if suffix == ".xlsx":
        raw_rows = _xlsx_rows(path)
    else:
        raw_rows = _csv_rows(path.read_bytes())
    return _table(raw_rows)


def _xlsx_rows(path: Path):
    import openpyxl

    if not zipfile.is_zipfile(path):
        raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件"))
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            total = sum(info.file_size for info in archive.infolist())
            content_types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names \
                else b""
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件")) from exc
    if "xl/workbook.xml" not in names:
        raise ImportRefused(_l("该文件不是有效的 Excel (.xlsx) 文件"))
    if any("vbaproject" in n.lower() for n in names) or b"macroEnabled" in content_types:
        raise ImportRefused(_l("文件含有宏（VBA 代码），不予导入：请另存为不含宏的 .xlsx"))
    if any(n.lower().startswith(("xl/activex", "xl/embeddings")) for n in names):
        raise ImportRefused(_l("文件含有控件或嵌入对象，不予导入：请只保留表格内容"))
    if total > MAX_UNZIPPED:
        raise ImportRefused(_l("文件内容过大，不予导入"))
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise ImportRefused(_l("无法读取该 Excel 文件：文件可能已损坏")) from exc
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for number, row in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS), start=1):
            values = []
            for cell in row:
                value = getattr(cell, "value", None)
                if getattr(cell, "data_type", None) == "f" or (
                        isinstance(value, str) and value.startswith("=") and len(value) > 1):
                    ref = getattr(cell, "coordinate", f"第{number}行")
                    raise ImportRefused(_l(
                        "单元格 %(ref)s 含有公式，不予导入：请复制后“选择性粘贴为数值”再导入", ref=ref))
                values.append(value)
            rows.append((number, values))
            _check_rows(rows)
    finally:
        workbook.close()
    return rows


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


def _csv_rows(data: bytes):
    if b"\x00" in data[:8192] or data[:4] in (b"\x89PNG", b"PK\x03\x04", b"%PDF") \
            or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportRefused(_l("该文件不是 CSV 文本表格"))
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for number, row in enumerate(reader, start=1):
            values = row[:MAX_COLUMNS]
            for value in values:
                if value.startswith("=") and len(value) > 1:
                    raise ImportRefused(_l(
                        "第%(n)s行含有公式（以“=”开头的单元格），不予导入", n=number))
            rows.append((number, values))
            _check_rows(rows)
    except csv.Error as exc:
        raise ImportRefused(_l("CSV 文件格式有误：%(e)s", e=str(exc))) from exc
    return rows


def _check_rows(rows) -> None:
    _max_bytes, max_rows = limits()
    # the header (up to two rows) and a title above it do not count
    if len(rows) > max_rows + HEADER_SEARCH_ROWS + 2:
        raise ImportRefused(_l("行数过多，一次最多导入 %(n)s 行", n=max_rows))


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _table(raw_rows) -> Table:
    header_at = None
    for i, (_number, values) in enumerate(raw_rows[:HEADER_SEARCH_ROWS]):
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
    if first_data < len(raw_rows):
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
    for number, values in raw_rows[first_data:]:
        if all(_blank(v) for v in values):
            continue
        values = list(values) + [None] * (width - len(values))
        table.rows.append((number, values[:width]))
        if len(table.rows) > max_rows:
            raise ImportRefused(_l("行数过多，一次最多导入 %(n)s 行", n=max_rows))
    if not table.rows:
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
