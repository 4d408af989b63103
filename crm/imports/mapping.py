"""From a spreadsheet's columns and cells to a lead's fields: headers, amounts, dates, names.

Pure functions: no database. Each parser returns the value or raises ``ValueError`` with the
message a user should read.
"""

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from crm.industries.lookup import is_unsorted
from crm.inputs import Invalid, to_wan
from crm.leads.models import KEY_LEVEL_LABELS, SOURCE_LABELS
from crm.leads.pipeline import LOST, LOST_REASON_LABELS, ORDERED_STAGES, STAGE_LABELS
from crm.spreadsheets import unguarded

#: The field naming a lead's officer (a column of the spreadsheet, not the role).
OFFICER_FIELD = "officer"  # not a role
#: The template's columns, in order: (field, header). Also the canonical header of each field,
#: and the lead export's first columns (crm/exports/xlsx.py writes exactly these, so what is
#: exported re-imports): a field added here is exported and imported without more code when the
#: lead has an attribute of that name (dates and amounts by ``DATE_FIELDS``/``AMOUNT_FIELDS``).
TEMPLATE_COLUMNS = (
    ("name", "项目名称"),
    ("company", "投资方"),
    ("credit_code", "统一社会信用代码"),
    ("origin", "来源地"),
    ("industry", "产业"),
    ("chain", "产业链"),
    ("source", "招商方式"),
    ("investment_wan", "计划投资(万元)"),
    ("township", "所属镇街"),
    (OFFICER_FIELD, "负责人"),
    ("sponsor", "帮包领导"),
    ("stage", "阶段"),
    ("lost_reason", "终止原因"),
    ("lost_on", "终止日期"),
    ("created_on", "录入日期"),
    ("planned_sign_date", "计划签约"),
    ("planned_start_date", "计划开工"),
    ("planned_production_date", "计划投产"),
    ("land_mu", "用地(亩)"),
    ("expected_output_wan", "预计年产值(万元)"),
    ("expected_tax_wan", "预计年税收(万元)"),
    ("jobs", "就业人数"),
    ("contact_name", "联系人"),
    ("contact_phone", "联系电话"),
    ("next_follow_up", "下次跟进"),
    ("stats_included_on", "纳统日期"),
    ("key_level", "重点级别"),
    ("notes", "备注"),
)
FIELD_HEADERS = dict(TEMPLATE_COLUMNS)
#: The template's sample row says this in its 备注: the importer skips such a row (with a note),
#: so a template filled in below its sample, or not at all, imports no sample lead.
SAMPLE_MARKER = "示例行"

_ALIASES = {
    "name": ("项目名称", "项目", "项目名", "招商项目", "项目名称及内容"),
    "company": ("投资方", "投资主体", "投资企业", "企业名称", "公司名称", "签约企业", "投资方名称",
                "客商", "客商名称", "企业"),
    "credit_code": ("统一社会信用代码", "信用代码", "社会信用代码"),
    "origin": ("来源地", "投资方来源地", "客商来源地", "企业所在地", "来源城市"),
    "industry": ("产业", "所属产业", "行业", "产业类别", "产业分类"),
    "chain": ("产业链", "所属产业链"),
    "source": ("招商方式", "来源渠道", "招商渠道", "线索来源"),
    "investment_wan": ("计划投资", "计划总投资", "总投资", "投资额", "投资总额", "计划投资额",
                       "投资规模"),
    "township": ("所属镇街", "镇街", "所属单位", "单位", "镇街名称", "责任单位", "镇街部门"),
    OFFICER_FIELD: ("负责人", "招商专员", "帮包干部", "服务专员", "责任人", "项目负责人"),
    "sponsor": ("帮包领导", "包保领导", "分包领导"),
    "stage": ("阶段", "项目阶段", "进展阶段", "当前阶段", "项目进展"),
    "created_on": ("录入日期", "登记日期", "建档日期", "接触日期", "首次接触"),
    "planned_sign_date": ("计划签约", "计划签约日期", "计划签约时间", "签约日期", "拟签约"),
    "planned_start_date": ("计划开工", "计划开工日期", "计划开工时间", "开工日期", "拟开工"),
    "planned_production_date": ("计划投产", "计划投产日期", "计划投产时间", "投产日期", "拟投产"),
    "land_mu": ("用地", "用地面积", "占地", "占地面积", "用地规模"),
    "expected_output_wan": ("预计年产值", "年产值", "预期年产值", "达产年产值"),
    "expected_tax_wan": ("预计年税收", "年税收", "预期年税收", "达产年税收"),
    "jobs": ("就业人数", "带动就业", "就业", "用工人数"),
    "contact_name": ("联系人", "对接人", "企业联系人"),
    "contact_phone": ("联系电话", "电话", "联系方式", "手机"),
    "next_follow_up": ("下次跟进", "下次跟进日期", "跟进日期"),
    "stats_included_on": ("纳统日期", "纳统时间"),
    "key_level": ("重点级别", "重点项目", "重点项目级别", "项目级别"),
    "lost_reason": ("终止原因", "终止理由"),
    "lost_on": ("终止日期", "终止时间"),
    "notes": ("备注", "说明", "存在问题"),
}
#: Normalised header text → field.
HEADER_ALIASES = {_n: field for field, names in _ALIASES.items() for _n in names}
#: Units a header may name in brackets; stripped before the lookup.
_HEADER_UNIT = re.compile(r"[(（\[【]\s*(万元|亿元|元|亩|人|个|万|亿)?\s*[)）\]】]$")

DATE_FIELDS = ("created_on", "planned_sign_date", "planned_start_date",
               "planned_production_date", "next_follow_up", "stats_included_on")
AMOUNT_FIELDS = ("investment_wan", "expected_output_wan", "expected_tax_wan")
TEXT_LIMITS = {"name": 200, "company": 200, "origin": 64, "industry": 64, "chain": 64,
               "sponsor": 64, "contact_name": 64, "contact_phone": 32, "credit_code": 18}


def norm_text(value) -> str:
    """Cell text: full-width to half-width, no spaces or line breaks, no required-markers."""
    text = unicodedata.normalize("NFKC", "" if value is None else str(value))
    return re.sub(r"\s+", "", text).replace("*", "").replace("＊", "")


def header_field(text) -> tuple[str | None, str | None]:
    """(field, unit) named by a header cell, e.g. '计划投资（亿元）' → ('investment_wan', '亿元')."""
    text = norm_text(text)
    if not text:
        return None, None
    unit = None
    m = _HEADER_UNIT.search(text)
    if m:
        unit = m.group(1)
        text = text[: m.start()]
    text = text.rstrip("：:")
    return HEADER_ALIASES.get(text), unit


def combined_header_field(parent, child) -> tuple[str | None, str | None]:
    """The field of a column under a two-row header: the child alone, else parent + child."""
    field, unit = header_field(child)
    if field is None and child:
        field, unit = header_field(norm_text(parent) + norm_text(child))
        if field is None and "计划" in norm_text(parent):
            field, unit = header_field("计划" + norm_text(child))
    if field is None and not norm_text(child):
        field, unit = header_field(parent)
    return field, unit


def parse_amount(value, header_unit: str | None = None) -> Decimal | None:
    """An amount in 万元 (crm.inputs.to_wan, the one parser of amounts): '1.5亿' → 15000,
    '15000万' → 15000, '15,000' → 15000, 1.2亿元 → 12000; None for an empty cell.

    A plain number is in 万元, unless its column header says 亿元.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return to_wan(value, in_yi=header_unit in ("亿元", "亿"))
    except Invalid as exc:
        raise ValueError(exc.message) from exc


def parse_number(value, *, integer=False) -> Decimal | int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = norm_text(value).replace(",", "")
    text = re.sub(r"(亩|人|个)$", "", text)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(_l("须为数字")) from exc
    if number < 0:
        raise ValueError(_l("须为不小于0的数字"))
    if integer:
        if number != number.to_integral_value():
            raise ValueError(_l("须为整数"))
        return int(number)
    return number.normalize() + 0


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\d{1,2}:\d{2}(?::\d{2})?)?$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def parse_date(value) -> dt.date | None:
    """2026-03-01, 2026/3/1, 2026.3.1, 2026年3月1日, a date cell or an Excel serial number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 <= value <= 80000:  # an Excel serial date (1954–2119)
            return _EXCEL_EPOCH + dt.timedelta(days=int(value))
        raise ValueError(_l("日期格式不正确（如 2026-03-01）"))
    m = _DATE.match(norm_text(value))
    if not m:
        raise ValueError(_l("日期格式不正确（如 2026-03-01）"))
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise ValueError(_l("日期不存在")) from exc


_LABEL_CODES: dict = {}


def labels_to_codes(labels: dict, *, normalised: bool = False) -> dict:
    """{label in the current language: code} of a labels dict, made once per language (an import
    parses each row's cells: translating every label for every row is most of a preview)."""
    from flask_babel import get_locale

    key = (id(labels), normalised, str(get_locale()))
    if key not in _LABEL_CODES:
        _LABEL_CODES[key] = {(norm_text(str(label)) if normalised else str(label)): code
                             for code, label in labels.items()}
    return _LABEL_CODES[key]


def _code_of(value, labels: dict, unknown, *, aliases: dict | None = None,
             normalised: bool = False) -> str | None:
    """The code a cell names: one of ``labels``' labels (in the current language), an alias, or
    the code itself; None for an empty cell; ValueError(``unknown(text)``) for anything else."""
    text = norm_text(value)
    if not text:
        return None
    code = (labels_to_codes(labels, normalised=normalised).get(text) or (aliases or {}).get(text)
            or (text.lower() if text.lower() in labels else None))
    if code is None:
        raise ValueError(unknown(text))
    return code


_STAGE_ALIASES = {"接洽": "contact", "在谈": "negotiation", "已签约": "signed",
                  "已开工": "started", "在建": "started", "已投产": "producing"}
_KEY_LEVEL_ALIASES = {"区级": "district", "市级": "city", "省级": "province", "区级重点": "district",
                      "市级重点": "city", "省级重点": "province", "否": "none", "无": "none",
                      "-": "none", "—": "none"}


def parse_stage(value) -> str | None:
    code = _code_of(value, STAGE_LABELS, aliases=_STAGE_ALIASES, unknown=lambda text: _l(
        "未知的阶段“%(text)s”（应为接触、洽谈、签约、开工、投产或终止）", text=text))
    if code is not None and code not in (*ORDERED_STAGES, LOST):
        raise ValueError(_l("导入的项目阶段须为接触、洽谈、签约、开工、投产或终止"))
    return code


def parse_lost_reason(value) -> str | None:
    """投资方放弃, 选址他处, 条件未谈拢, 政策不符, 其他 (or their codes)."""
    return _code_of(value, LOST_REASON_LABELS, normalised=True, unknown=lambda _text: _l(
        "未知的终止原因（应为投资方放弃、选址他处、条件未谈拢、政策不符或其他）"))


def parse_source(value) -> str | None:
    return _code_of(value, SOURCE_LABELS, unknown=lambda _text: _l("未知的招商方式"))


def parse_key_level(value) -> str | None:
    """区重点 / 市重点 / 省重点 (also 区级、市级、省级 and the codes); 否、无、非重点 or empty:
    not a key project."""
    return _code_of(value, KEY_LEVEL_LABELS, aliases=_KEY_LEVEL_ALIASES, unknown=lambda _text: _l(
        "未知的重点级别（应为区重点、市重点、省重点或留空）"))


def cell_text(value) -> str:
    """A text cell as stored: trimmed; numbers without a trailing '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()[:10]
    text = str(value).replace("\u3000", " ").strip()
    return unguarded(text)  # our own exports guard formula-like text with an apostrophe


def parse_industry(value, index) -> tuple[int | None, str]:
    """An industry cell: a name or an alias of an active industry on the list (``index``, a
    crm.industries.lookup.IndustryIndex), case- and width-insensitive; (its id, the text as
    written). Empty is no industry; 待归类 leaves the lead unsorted."""
    text = cell_text(value)
    if not text or is_unsorted(text):
        return None, text
    industry = index.find(text)
    if industry is None or not industry.active:
        raise ValueError(_l("产业“%(text)s”不在产业目录中，请填写目录中的产业名称或别名", text=text))
    return industry.id, text
