"""A published issue as a workbook (.xlsx) and a Word document (.docx), from its frozen content."""

import io

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from crm import word
from crm.bulletin.models import BulletinIssue
from crm.bulletin.report import XLSX_COLOURS, colour_fill
from crm.spreadsheets import safe_text
from crm.supervision.models import LEVEL_LABELS, STATUS_LABELS
from crm.targets.models import METRIC_LABELS

_THIN = Side(style="thin", color="FFBFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFD9E1F2")
_WRAP = Alignment(vertical="center", wrap_text=True)


def issue_title() -> str:
    return _("市中区招商引资项目红黄蓝通报")


def number_line(issue: BulletinIssue) -> str:
    return _("%(y)s年第%(n)s期　截至 %(d)s", y=issue.year, n=issue.number, d=issue.as_of.isoformat())


def metric_label(code: str) -> str:
    return str(METRIC_LABELS.get(code, code))


def ranking_rows(content: dict) -> tuple[list[str], list[list], list[dict]]:
    """Headers, rows and per-row colour fills of the ranking table."""
    metrics = content.get("metrics", [])
    headers = [_("排名"), _("升降"), _("单位"), _("平均完成率")] + [metric_label(m) for m in metrics]
    rows, fills = [], []
    for unit in content["townships"]:
        by_metric = {t["metric"]: t for t in unit["targets"]}
        rank = unit["rank"] if unit["ranked"] else _("未设目标")
        row = [rank, unit.get("rank_change", ""), unit["name"], unit["mean_attainment_text"]]
        fill = {}
        for column, metric in enumerate(metrics, start=4):
            target = by_metric.get(metric)
            row.append(target["text"] if target else "")
            if target and target["color"]:
                fill[column] = target["color"]
        rows.append(row)
        fills.append(fill)
    return headers, rows, fills


def lead_headers() -> list[str]:
    return [_("单位"), _("项目名称"), _("投资方"), _("阶段"), _("计划投资（亿元）"), _("负责人"),
            _("原因")]


def lead_rows(items: list[dict]) -> list[list]:
    return [[i["township_name"], i["name"], i["company"], i["stage_label"], i["investment_yi"],
             i["officer_name"], "；".join(i["reasons"])] for i in items]


def order_headers() -> list[str]:
    return [_("编号"), _("级别"), _("单位"), _("项目"), _("督办事由"), _("下发日期"), _("办理期限"),
            _("状态")]


def order_rows(orders: list[dict]) -> list[list]:
    return [[o["number"], str(LEVEL_LABELS[o["level"]]), o["township_name"], o["lead_name"],
             o["reason"], o["issued_on"], o["due_on"], str(STATUS_LABELS[o["status"]])]
            for o in orders]


def issue_docx(issue: BulletinIssue) -> bytes:
    content = issue.content
    document = word.new_document(landscape=True)
    word.red_header(document, _("市中区招商引资工作通报"), number_line(issue), issue_title())
    counts = content["counts"]
    word.paragraph(document, _(
        "时序进度 %(p)s。在办项目 %(n)s 个，其中红色 %(r)s 个、黄色 %(y)s 个、蓝色 %(b)s 个；"
        "在办督办单 %(o)s 件。", p=content["time_progress_text"], n=content["totals"]["leads"],
        r=counts["red"], y=counts["yellow"], b=counts["blue"], o=len(content["orders"])))
    word.heading(document, _("一、单位排名"))
    headers, rows, fills = ranking_rows(content)
    word.table(document, headers, rows, fills)
    word.heading(document, _("二、红色项目（%(n)s 个）", n=len(content["red"])))
    word.table(document, lead_headers(), lead_rows(content["red"]),
               [{0: "red"}] * len(content["red"]))
    word.heading(document, _("三、黄色项目（%(n)s 个）", n=len(content["yellow"])))
    word.table(document, lead_headers(), lead_rows(content["yellow"]),
               [{0: "yellow"}] * len(content["yellow"]))
    word.heading(document, _("四、在办督办单（%(n)s 件）", n=len(content["orders"])))
    word.table(document, order_headers(), order_rows(content["orders"]))
    return word.to_bytes(document)


def issue_xlsx(issue: BulletinIssue) -> bytes:
    content = issue.content
    workbook = Workbook()
    headers, rows, fills = ranking_rows(content)
    _sheet(workbook.active, _("单位排名"), issue, headers, rows, fills)
    for name, items, colour in ((_("红色项目"), content["red"], "red"),
                                (_("黄色项目"), content["yellow"], "yellow")):
        _sheet(workbook.create_sheet(), name, issue, lead_headers(), lead_rows(items),
               [{0: colour}] * len(items))
    _sheet(workbook.create_sheet(), _("督办单"), issue, order_headers(),
           order_rows(content["orders"]), [])
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


def _sheet(ws, name: str, issue: BulletinIssue, headers, rows, fills) -> None:
    ws.title = name
    last = get_column_letter(len(headers))
    ws["A1"] = f"{issue_title()}　{number_line(issue)}"
    ws["A1"].font = Font(bold=True, size=14, color="FFC00000")
    ws.merge_cells(f"A1:{last}1")
    for column, header in enumerate(headers, start=1):
        cell = ws.cell(2, column, header)
        cell.font, cell.fill, cell.border = Font(bold=True), _HEADER_FILL, _BORDER
    for r, values in enumerate(rows, start=3):
        for column, value in enumerate(values, start=1):
            cell = ws.cell(r, column, safe_text(value) if isinstance(value, str) else value)
            cell.border, cell.alignment = _BORDER, _WRAP
        for column, colour in (fills[r - 3] if r - 3 < len(fills) else {}).items():
            if colour in XLSX_COLOURS:
                ws.cell(r, column + 1).fill = colour_fill(colour)
    for column in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(column)].width = 18
    ws.freeze_panes = "A3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
