"""Preview an import row by row, then write it all or nothing.

``preview`` checks every row (values, unit, officer, permission, rules, duplicates within the file
and against existing leads) and writes nothing. ``import_rows`` creates the leads through
``create_lead`` in the current transaction, with an audit entry naming the file; the caller
commits once, so either every lead lands or none does.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.models import UNIT_ROLES, User
from crm.auth.permissions import can
from crm.clock import today
from crm.db import in_lists
from crm.errors import DomainError
from crm.extensions import db
from crm.imports import mapping
from crm.imports.reader import Table
from crm.industries.lookup import IndustryIndex
from crm.leads.models import Lead
from crm.leads.pipeline import LOST
from crm.leads.services import create_lead, move_stage, validate_lead_fields
from crm.leads.validation import company_key, credit_code_valid, normalize_credit_code
from crm.townships.models import Township

_TEXT_FIELDS = ("name", "company", "credit_code", "origin", "industry", "chain", "sponsor",
                "contact_name", "contact_phone", "notes")
#: Fields passed on to ``create_lead``.
#: A 终止 row's reason and date: for the stage move, not ``create_lead``.
_LOST_FIELDS = ("lost_reason", "lost_on")
_LEAD_FIELDS = (*_TEXT_FIELDS, "source", "investment_wan", "land_mu", "expected_output_wan",
                "expected_tax_wan", "jobs", "stage", "key_level", *mapping.DATE_FIELDS,
                *_LOST_FIELDS)


#: Field-name tuples -> their positions, shared by every row filled in the same fields.
_POSITIONS: dict[tuple, dict[str, int]] = {}


class RowValues(Mapping):
    """A checked row's values, read-only: the positions of its fields shared with every row of
    the same fields, the values in a tuple (a 100,000-row import holds every row's values until
    the last row is checked: a dict each would be ~80 MB of it)."""

    __slots__ = ("_positions", "_values")

    def __init__(self, data: dict):
        names = tuple(data)
        positions = _POSITIONS.get(names)
        if positions is None:
            positions = {name: i for i, name in enumerate(names)}
            if len(_POSITIONS) < 1000:
                _POSITIONS[names] = positions
        self._positions = positions
        self._values = tuple(data.values())

    def __getitem__(self, name: str):
        return self._values[self._positions[name]]

    def __iter__(self):
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RowValues({dict(self)!r})"


@dataclass(slots=True)
class RowResult:
    row_number: int
    #: What ``create_lead`` gets (township_id, primary_officer_id and the lead's fields): a
    #: dict while the row is checked, then its filled-in values (``RowValues``).
    data: Mapping
    #: (column header as in the file, message); a row without errors shares one empty tuple
    errors: list[tuple[str, str]] | tuple = ()
    #: Resolved names for the preview: unit and officer.
    township_name: str = ""
    officer_name: str = ""
    #: The stage as the preview shows it: the stage's label, or the text of the file when it
    #: names no stage (an error of the row).
    stage_text: str = ""
    #: 疑似撞单: another unit registered the investor first (a notice, not an error: the lead
    #: is imported as disputed).
    dispute: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, header: str, message: str) -> None:
        self.errors = [*self.errors, (header, message)]

    def error_lines(self) -> list[str]:
        return [f"第{self.row_number}行：{col}：{msg}" for col, msg in self.errors]


def _header(table: Table, fld: str) -> str:
    column = table.fields.get(fld)
    return column.header if column else mapping.FIELD_HEADERS.get(fld, fld)


@dataclass
class _Context:
    """What every row of one preview is checked against: who imports, the file, units, people."""

    user: User
    table: Table
    units: dict[str, Township]
    units_by_id: dict[int, Township]
    #: By unit: a row looks only at its unit's people.
    officers: dict[int, list]
    #: The industry list, read once per file.
    industries: IndustryIndex
    #: The unit of every row that names none (chosen on the upload page), or None.
    file_unit: Township | None = None


def preview(user: User, table: Table, unit_id: int | None = None, *,
            release: bool = False) -> list[RowResult]:
    """Every row of ``table`` checked; nothing is written. ``unit_id``: the unit of every row
    that names none (the whole file's, chosen by a user who may import into several units).
    ``release``: take the rows out of ``table``, each row's cells let go once it is checked (a
    100,000-row file is not held twice: its cells and its checked values)."""
    units = {t.name: t for t in db.session.scalars(sa.select(Township))}
    officers: dict[int, list] = {}
    for officer in db.session.execute(sa.select(  # rows, not users: a province has thousands
            User.id, User.township_id, User.username, User.display_name).where(
            User.active, User.role.in_(UNIT_ROLES)).order_by(User.id)):
        officers.setdefault(officer.township_id, []).append(officer)
    units_by_id = {t.id: t for t in units.values()}
    context = _Context(user, table, units, units_by_id, officers, IndustryIndex.load(),
                       units_by_id.get(unit_id) if unit_id else None)
    if release:
        rows, table.rows = table.rows, []
        rows.reverse()
        results = []
        while rows:
            number, values = rows.pop()
            results.append(_check_row(context, number, values))
    else:
        results = [_check_row(context, number, values) for number, values in table.rows]
    _check_duplicates(table, results)
    _check_disputes(results, context.units_by_id)
    return results


def _check_disputes(results: list[RowResult], units_by_id: dict) -> None:
    """Each row whose investor another unit holds (a live lead, or an earlier row of the
    file): the notice its lead would get."""
    from crm.companies import services as companies
    from crm.companies.names import normalise

    index = companies.CompanyIndex()
    rows = [(result, tuple(companies.matching_company_ids(  # mostly (): no set per row
        normalise(result.data["company"]), result.data.get("credit_code"), index)))
            for result in results
            if result.data.get("township_id") and result.data.get("company")]
    live = companies.LiveLeads.read(
        set().union(*(ids for _r, ids in rows)),
        {r.data["credit_code"] for r, _ids in rows if r.data.get("credit_code")})
    names = {unit_id: unit.name for unit_id, unit in units_by_id.items()}
    in_file: dict = {}
    for result, company_ids in rows:
        data = result.data
        unit_id = data["township_id"]
        created_on = data.get("created_on") or today()
        notice = companies.preview_notice(company_ids, data.get("credit_code"), unit_id,
                                          created_on, live, names)
        key = normalise(data["company"])
        earlier = in_file.get(key) or in_file.get(data.get("credit_code") or object())
        if notice is None and earlier and earlier[0] != unit_id:
            notice = companies.Notice(names.get(earlier[0], ""), earlier[1])
        if notice is not None:
            result.dispute = notice.text()
        in_file.setdefault(key, (unit_id, created_on))
        if data.get("credit_code"):
            in_file.setdefault(data["credit_code"], (unit_id, created_on))


def _check_row(context: _Context, number: int, values) -> RowResult:
    user, table, units = context.user, context.table, context.units
    units_by_id, officers = context.units_by_id, context.officers
    cols = table.fields
    result = RowResult(number, {})
    data = result.data

    def err(fld, message):
        result.add_error(_header(table, fld), str(message))

    def raw(fld):
        column = cols.get(fld)
        return values[column.index] if column else None

    for fld in _TEXT_FIELDS:
        if fld in cols:
            text = mapping.cell_text(raw(fld))
            limit = mapping.TEXT_LIMITS.get(fld)
            if limit and len(text) > limit and fld != "credit_code":
                err(fld, _l("内容过长（最多%(n)s字）", n=limit))
            data[fld] = text
    for fld in mapping.AMOUNT_FIELDS:
        if fld in cols:
            try:
                data[fld] = mapping.parse_amount(raw(fld), cols[fld].unit)
            except ValueError as exc:
                err(fld, exc.args[0])
    if "industry" in cols and _header(table, "industry") not in {h for h, _m in result.errors}:
        try:
            data["industry_id"], data["industry"] = mapping.parse_industry(
                raw("industry"), context.industries)
        except ValueError as exc:
            err("industry", exc.args[0])
    for fld, integer in (("land_mu", False), ("jobs", True)):
        if fld in cols:
            try:
                data[fld] = mapping.parse_number(raw(fld), integer=integer)
            except ValueError as exc:
                err(fld, exc.args[0])
    for fld in mapping.DATE_FIELDS:
        if fld in cols:
            try:
                data[fld] = mapping.parse_date(raw(fld))
            except ValueError as exc:
                err(fld, exc.args[0])
    if "lost_on" in cols:
        try:
            data["lost_on"] = mapping.parse_date(raw("lost_on"))
        except ValueError as exc:
            err("lost_on", exc.args[0])
    if "stage" in cols:
        result.stage_text = mapping.cell_text(raw("stage"))
    for fld, parse in (("stage", mapping.parse_stage), ("source", mapping.parse_source),
                       ("key_level", mapping.parse_key_level),
                       ("lost_reason", mapping.parse_lost_reason)):
        if fld in cols:
            try:
                data[fld] = parse(raw(fld))
            except ValueError as exc:
                err(fld, exc.args[0])
    if data.get("investment_wan") is None:
        data.pop("investment_wan", None)
    if data.get("credit_code") and not credit_code_valid(data["credit_code"]):
        err("credit_code", _l("统一社会信用代码无效（应为18位，校验位须正确）"))
        data["credit_code"] = None

    # the unit: named in the row, else the importer's own
    unit_name = mapping.norm_text(raw("township")) if "township" in cols else ""
    unit = None
    if unit_name:
        unit = units.get(unit_name) or next(
            (t for name, t in units.items() if mapping.norm_text(name) == unit_name), None)
        if unit is None:
            err("township", _l("未知的单位“%(name)s”", name=unit_name))
    elif user.township_id:
        unit = units_by_id.get(user.township_id)
    elif context.file_unit is not None:
        unit = context.file_unit
    else:
        err("township", _l("请填写所属镇街，或在上传时选择整个文件所属的单位"))
    if unit is not None:
        result.township_name = unit.name
        data["township_id"] = unit.id
        if not can(user, "lead.create", unit.id):
            err("township", _l("无权导入到该单位"))

    officer_field = mapping.OFFICER_FIELD
    officer_name = mapping.cell_text(raw(officer_field)) if officer_field in cols else ""
    result.officer_name = officer_name  # as in the file, until matched to a person
    if officer_name and unit is None:  # no unit to look in: a person of no unit is an error
        if not any(officer_name in (u.display_name, u.username)
                   for people in officers.values() for u in people):
            err(officer_field, _l("“%(name)s”不是任何单位的在岗人员", name=officer_name))
    elif officer_name:
        found = [u for u in officers.get(unit.id, ())
                 if officer_name in (u.display_name, u.username)]
        if len(found) == 1:
            data["primary_officer_id"] = found[0].id
            result.officer_name = found[0].display_name
        elif found:
            err(officer_field, _l("“%(name)s”对应多名人员，请填写用户名", name=officer_name))
        else:
            err(officer_field, _l("“%(name)s”不是%(unit)s的在岗人员", name=officer_name,
                              unit=unit.name))
    elif can(user, "lead.assigned_to_me"):
        result.officer_name = user.display_name

    if data.get("created_on") and data["created_on"] > today():
        err("created_on", _l("录入日期不能晚于今天"))
    _check_lost(data, err)
    field_errors = {}
    try:
        validate_lead_fields({k: v for k, v in data.items() if k not in _LOST_FIELDS and (
            v is not None or k in ("name", "company"))}, creating=True)
    except DomainError as exc:
        field_errors = exc.fields
    already = {h for h, _m in result.errors}
    for fld, messages in field_errors.items():
        if _header(table, fld) in already and fld not in ("name", "company"):
            continue
        for message in messages:
            err(fld, message)
    # what was left empty is not kept (every reader takes a missing value as empty)
    result.data = RowValues({k: v for k, v in data.items() if v is not None and v != ""})
    return result


def _check_lost(data: dict, err) -> None:
    """A 终止 row (an exported lost lead) needs its reason; its date is the day it was lost
    (default today), between its 录入日期 and today."""
    if data.get("stage") != LOST:
        for fld in _LOST_FIELDS:
            if data.pop(fld, None) is not None:
                err(fld, _l("仅终止的项目填写此项"))
        return
    if not data.get("lost_reason"):
        err("lost_reason", _l("终止的项目须填写终止原因"))
    lost_on = data.get("lost_on")
    if lost_on is not None:
        if lost_on > today():
            err("lost_on", _l("终止日期不能晚于今天"))
        elif lost_on < (data.get("created_on") or today()):
            err("lost_on", _l("终止日期不能早于录入日期"))


def _check_duplicates(table: Table, results: list[RowResult]) -> None:
    """A row is a duplicate of an earlier row of the same unit, or of an existing lead of the
    unit: the same company (normalised, as ``find_duplicates``) or the same credit code."""
    rows = [r for r in results if r.data.get("township_id") and r.data.get("company")]
    keys = {company_key(r.data["company"]) for r in rows}
    codes = {normalize_credit_code(r.data["credit_code"]) for r in rows
             if r.data.get("credit_code")}
    existing_by_key: dict = {}
    existing_by_code: dict = {}
    conditions = in_lists(Lead.company_key, keys)
    conditions += in_lists(Lead.credit_code, codes)
    for where in conditions:  # the file's investors only, each list an indexed look-up
        for _lead_id, name, unit_id, key, code in db.session.execute(
                sa.select(Lead.id, Lead.name, Lead.township_id, Lead.company_key,
                          Lead.credit_code).where(where).order_by(Lead.id)):
            existing_by_key.setdefault((unit_id, key), name)
            if code:
                existing_by_code.setdefault((unit_id, code), name)
    seen_key: dict = {}
    seen_code: dict = {}
    company_header = _header(table, "company")
    for result in results:
        data = result.data
        unit_id = data.get("township_id")
        if not unit_id or not data.get("company"):
            continue
        key = (unit_id, company_key(data["company"]))
        code = (unit_id, normalize_credit_code(data["credit_code"])) \
            if data.get("credit_code") else None
        earlier = seen_key.get(key) or (seen_code.get(code) if code else None)
        if earlier:
            result.add_error(company_header, str(_l(
                "与本文件第%(n)s行重复（同一单位的同一投资方）", n=earlier)))
        else:
            existing = existing_by_key.get(key) or (existing_by_code.get(code) if code else None)
            if existing:
                result.add_error(company_header, str(_l(
                    "与已有项目“%(name)s”重复（同一单位的同一投资方）", name=existing)))
        seen_key.setdefault(key, result.row_number)
        if code:
            seen_code.setdefault(code, result.row_number)


def import_rows(user: User, results: list[RowResult], filename: str,
                progress: Callable[[int], None] | None = None) -> list[Lead]:
    """Create every lead (stage history by ``create_lead``) and a 'lead.import' audit entry each.

    Raises DomainError, writing nothing, when any row has errors; the caller commits once.
    """
    bad = [r for r in results if r.errors]
    if bad:
        raise DomainError(_l("有%(n)s行存在错误，未导入任何项目", n=len(bad)))
    if not results:
        raise DomainError(_l("没有可导入的数据行"))
    from crm.companies.services import CompanyIndex

    leads = []
    index = CompanyIndex()
    for result in results:
        data = {k: v for k, v in result.data.items() if k in (*_LEAD_FIELDS, "township_id",
                                                                 "primary_officer_id",
                                                                 "industry_id")}
        data = {k: v for k, v in data.items() if v not in (None, "")}
        lost = {k: data.pop(k, None) for k in _LOST_FIELDS}
        if data.get("stage") == LOST:  # entered as a contact, then lost (its reason, its day)
            data["stage"] = "contact"
            lead = create_lead(user, data, company_index=index)
            move_stage(user, lead, LOST, on=lost["lost_on"] or today(),
                       lost_reason=lost["lost_reason"])
        else:
            lead = create_lead(user, data, company_index=index)
        audit.record(user, "lead.import", lead, lead_id=lead.id,
                     changes={"file": [None, filename], "row": [None, result.row_number]})
        leads.append(lead)
        if progress is not None:
            progress(1)
    return leads
