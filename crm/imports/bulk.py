"""The bulk import: the rows ``preview`` checked, written with one multi-row statement per table
per chunk, all in the caller's transaction.

It writes exactly what ``service.import_rows`` (a ``create_lead`` per row) writes, in the same
order: each lead with its stages up to its stage entered on its 录入日期 (a 终止 row: entered as a
contact, then lost on its 终止日期 with its reason), its company found or made (by credit code,
else by normalised name), 疑似撞单 opened against the first-registered live lead of another unit
(existing leads and the file's earlier rows), a claim per milestone entered and per 纳统 date, and
the audit entries ``lead.create``, ``dispute.open``, ``claim.submit`` and ``lead.import``.

Core statements (SQLite: ``insert(table)`` with a list of rows; PostgreSQL: ``COPY``) bypass
the ORM session events, so the statistics versions of the
units written to are noted here (``crm.stats.versions.touch``) and bumped at the commit.
Company matching reads each chunk's companies and live leads with one query each.
"""

from collections.abc import Callable

import sqlalchemy as sa
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l

from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.auth.permissions import can
from crm.claims.models import STAGE_CLAIMS, Claim
from crm.clock import today, utcnow
from crm.companies.models import Company, Dispute
from crm.companies.names import normalise
from crm.companies.services import CompanyIndex
from crm.db import in_lists
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.leads import pipeline
from crm.leads.models import Lead, StageChange
from crm.leads.pipeline import LOST
from crm.leads.services import EDITABLE_FIELDS
from crm.leads.validation import company_key, normalize_credit_code
from crm.stats import versions

#: Rows per chunk: one statement per table per chunk.
CHUNK = 1000
_KEEP = ("township_id", "primary_officer_id", "industry_id")
_LOST_FIELDS = ("lost_reason", "lost_on")
_ROW_FIELDS = frozenset((*EDITABLE_FIELDS, "stage", "created_on", *_LOST_FIELDS, *_KEEP))
#: A lead's columns set by the import (the same keys for every row of a statement).
_LEAD_COLUMNS = (
    "name", "company", "company_key", "credit_code", "company_id", "ownership", "origin",
    "industry", "industry_id", "chain", "source", "investment_wan", "land_mu",
    "expected_output_wan", "expected_tax_wan", "jobs", "stage", "stage_changed_on",
    "lost_reason", "created_on", "township_id", "primary_officer_id", "sponsor", "contact_name",
    "contact_phone", "next_follow_up", "planned_sign_date", "planned_start_date",
    "planned_production_date", "stats_included_on", "key_level", "notes", "version",
    "created_by_id", "created_at", "updated_at",
)


def _column_defaults(table: sa.Table, names) -> dict:
    out = {}
    for name in names:
        default = table.c[name].default
        out[name] = default.arg if default is not None and default.is_scalar else None
    return out


def _insert(conn, table: sa.Table, rows: list[dict], *, ids: bool = False) -> list[int]:
    """Insert ``rows`` with one multi-row statement; with ``ids``, their ids in the rows' order.

    PostgreSQL: one ``COPY … FROM STDIN`` (a multi-row ``INSERT`` of a thousand rows costs the
    driver more to parse than the server to run), the ids drawn from the table's sequence first.
    SQLite: one ``executemany``; the ids follow the table's highest (a rowid table gives each new
    row the highest id + 1, and this transaction holds the database's write lock from its first
    write).
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, rows, ids)
    before = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) if ids else 0
    conn.execute(sa.insert(table), rows)
    if not ids:
        return []
    after = conn.scalar(sa.select(sa.func.max(table.c.id)))
    if after != before + len(rows):  # pragma: no cover - another writer inside the lock
        raise RuntimeError(f"{table.name}: ids not consecutive")
    return list(range(before + 1, after + 1))


def _copy(conn, table: sa.Table, rows: list[dict], ids: bool) -> list[int]:
    new_ids = []
    if ids:
        new_ids = list(conn.scalars(sa.text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": len(rows)}))
    given = set(rows[0]) | ({"id"} if ids else set())
    defaults = {}
    for column in table.columns:  # what Core would fill in: the Python-side scalar defaults
        if column.key not in given and column.default is not None and column.default.is_scalar:
            defaults[column.key] = column.default.arg
    keys = [c.key for c in table.columns if c.key in given or c.key in defaults]
    filled = [(k, defaults.get(k)) for k in keys]
    converted = [(i, p) for i, p in enumerate(
        table.c[k].type._cached_bind_processor(conn.dialect) for k in keys) if p is not None]
    id_at = keys.index("id") if ids else None
    names = ", ".join(f'"{table.c[k].name}"' for k in keys)
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for n, row in enumerate(rows):
                values = [row.get(k, default) for k, default in filled]
                if id_at is not None:
                    values[id_at] = new_ids[n]
                for i, process in converted:
                    if values[i] is not None:
                        values[i] = process(values[i])
                copy.write_row(values)
    finally:
        cursor.close()
    return new_ids


class _Lead:
    """One row on its way in: its lead's values, and what is written with it."""

    __slots__ = ("row", "values", "company", "rival", "first_is_self", "claims", "lost_on",
                 "lost_reason", "id", "position", "dispute_id")

    def __init__(self, row: int, values: dict, position: int):
        self.row = row
        self.values = values
        self.position = position
        self.company: dict | None = None
        self.rival = None  # ("db", id) or ("new", _Lead)
        self.first_is_self = False
        self.claims: list[tuple[str, object]] = []
        self.lost_on = None
        self.lost_reason = None
        self.id: int | None = None
        self.dispute_id: int | None = None


def bulk_import_rows(user: User, results, filename: str,
                     progress: Callable[[int], None] | None = None, *,
                     remote_addr: str | None = None, chunk: int = CHUNK,
                     release: bool = False) -> int:
    """Write every row of ``results`` (checked by ``preview``) as ``import_rows`` would; the
    number of leads created. Raises DomainError, writing nothing, when any row has errors; the
    caller commits once. ``release``: let each chunk's rows go once written (``results`` is
    left holding None)."""
    bad = [r for r in results if r.errors]
    if bad:
        raise DomainError(_l("有%(n)s行存在错误，未导入任何项目", n=len(bad)))
    if not results:
        raise DomainError(_l("没有可导入的数据行"))
    if remote_addr is None:
        remote_addr = (request.remote_addr or "") if has_request_context() else ""
    db.session.flush()
    conn = db.session.connection()
    index = CompanyIndex()
    writer = _Writer(user, filename, remote_addr, conn, index)
    for start in range(0, len(results), chunk):
        part = results[start:start + chunk]
        writer.write(part)
        if release:
            results[start:start + chunk] = [None] * len(part)
        if progress is not None:
            progress(len(part))
    versions.touch(db.session, writer.units)
    return writer.count


class _Writer:
    def __init__(self, user: User, filename: str, remote_addr: str, conn, index):
        from crm.companies.services import threshold

        self.user, self.filename, self.remote_addr = user, filename, remote_addr
        self.conn, self.index, self.limit = conn, index, threshold()
        self.assigned_to_me = can(user, "lead.assigned_to_me")
        self.create_allowed: dict = {}
        self.lead_defaults = _column_defaults(Lead.__table__, _LEAD_COLUMNS)
        self.units: set[int] = set()
        self.count = 0

    # --- a row's lead, as create_lead makes it -----------------------------------------------

    def _lead(self, result, position: int, now) -> _Lead:
        data = {k: v for k, v in result.data.items() if k in _ROW_FIELDS}
        data = {k: v for k, v in data.items() if v not in (None, "")}
        lost = {k: data.pop(k, None) for k in _LOST_FIELDS}
        data = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        data["credit_code"] = normalize_credit_code(data["credit_code"]) \
            if data.get("credit_code") else None
        township_id = data.get("township_id") or self.user.township_id
        if township_id not in self.create_allowed:
            self.create_allowed[township_id] = can(self.user, "lead.create", township_id)
        if not self.create_allowed[township_id]:
            raise Forbidden(_l("您无权在该单位新建项目"))
        stage = data.get("stage") or "contact"
        is_lost = stage == LOST
        if is_lost:  # entered as a contact, then lost (its reason, its day)
            stage = "contact"
        created_on = data.get("created_on") or today()
        primary_id = data.get("primary_officer_id") or (
            self.user.id if self.assigned_to_me else None)
        values = dict(self.lead_defaults)
        values.update({k: data[k] for k in EDITABLE_FIELDS
                       if data.get(k) is not None and k != "industry"})
        values.update(
            township_id=township_id, stage=stage, created_on=created_on,
            stage_changed_on=created_on, primary_officer_id=primary_id,
            created_by_id=self.user.id, company_key=company_key(data["company"]),
            industry_id=data.get("industry_id"), industry=data.get("industry") or "",
            ownership="sole", version=1, created_at=now, updated_at=now, lost_reason=None,
            company_id=None,
        )
        lead = _Lead(result.row_number, values, position)
        lead.claims = [(code, created_on) for code in pipeline.stages_up_to(stage)
                       if code in STAGE_CLAIMS]
        if values.get("stats_included_on"):
            lead.claims.append(("stats_included", values["stats_included_on"]))
        if is_lost:
            lead.lost_on = lost["lost_on"] or today()
            lead.lost_reason = lost["lost_reason"]
            try:
                pipeline.check_effective_date(lead.lost_on, today(), created_on)
            except pipeline.StageRuleError as exc:
                raise DomainError(exc.message, {exc.field: [exc.message]}) from exc
        return lead

    # --- companies (crm.companies.services.company_for, for a chunk) --------------------------

    def _companies(self, leads: list[_Lead], now) -> None:
        codes = {lead.values["credit_code"] for lead in leads if lead.values["credit_code"]}
        keys = {normalise((lead.values["company"] or "").strip()) for lead in leads}
        table = Company.__table__
        by_code: dict = {}
        by_key: dict = {}
        known: list[dict] = []
        conditions = in_lists(table.c.name_key, keys)
        conditions += in_lists(table.c.credit_code, codes)
        if conditions:
            for row in self.conn.execute(
                    sa.select(table.c.id, table.c.name_key, table.c.credit_code, table.c.origin)
                    .where(sa.or_(*conditions)).order_by(table.c.id)):
                known.append(dict(row._mapping, changed=set()))
        for company in known:
            if company["credit_code"]:
                by_code[company["credit_code"]] = company
            by_key.setdefault(company["name_key"], []).append(company)
        new: list[dict] = []
        for lead in leads:
            name = (lead.values["company"] or "").strip()
            code, origin = lead.values["credit_code"], lead.values["origin"]
            key = normalise(name)
            company = by_code.get(code) if code else None
            if company is None:
                company = next((c for c in by_key.get(key, ())
                                if not code or c["credit_code"] is None), None)
            if company is None:
                company = {"id": None, "name": name[:200], "name_key": key[:200],
                           "credit_code": code or None, "origin": (origin or "")[:64],
                           "parent_id": None, "created_at": now, "changed": set()}
                new.append(company)
                by_key.setdefault(key, []).append(company)
                if code:
                    by_code[code] = company
            else:
                if code and company["credit_code"] is None:
                    company["credit_code"] = code
                    company["changed"].add("credit_code")
                    by_code[code] = company
                if origin and not company["origin"]:
                    company["origin"] = origin[:64]
                    company["changed"].add("origin")
            lead.company = company
        rows = [{k: v for k, v in c.items() if k not in ("id", "changed")} for c in new]
        for company, company_id in zip(new, _insert(self.conn, table, rows, ids=True), strict=True):
            company["id"] = company_id
            self.index.add(company_id, company["name_key"])
        for company in known:
            if company["changed"]:
                self.conn.execute(sa.update(table).where(table.c.id == company["id"]).values(
                    {k: company[k] for k in sorted(company["changed"])}))
        self.by_code = by_code
        for lead in leads:
            lead.values["company_id"] = lead.company["id"]

    # --- 撞单 (crm.companies.services.rival_of, for a chunk) -----------------------------------

    def _matching_ids(self, lead: _Lead) -> set[int]:
        """``matching_company_ids``: the same credit code, or a name at least the threshold
        similar with the same numbers."""
        name_key = normalise(lead.values["company"])
        code = lead.values["credit_code"]
        ids = self.index.matching(name_key, self.limit)
        if code and code in self.by_code:
            ids.add(self.by_code[code]["id"])
        return ids

    def _disputes(self, leads: list[_Lead]) -> None:
        matches = [self._matching_ids(lead) for lead in leads]
        all_ids = set().union(*matches)
        codes = {lead.values["credit_code"] for lead in leads if lead.values["credit_code"]}
        t = Lead.__table__
        conditions = in_lists(t.c.company_id, all_ids)
        conditions += in_lists(t.c.credit_code, codes)
        live_by_company: dict = {}
        live_by_code: dict = {}
        if conditions:
            for row in self.conn.execute(
                    sa.select(t.c.id, t.c.company_id, t.c.credit_code, t.c.township_id,
                              t.c.created_on)
                    .where(sa.or_(*conditions), t.c.stage != LOST, t.c.ownership != "merged")):
                entry = (row.created_on, 0, row.id, row.township_id, ("db", row.id))
                if row.company_id is not None:
                    live_by_company.setdefault(row.company_id, []).append(entry)
                if row.credit_code:
                    live_by_code.setdefault(row.credit_code, []).append(entry)
        for lead, ids in zip(leads, matches, strict=True):
            code = lead.values["credit_code"]
            unit = lead.values["township_id"]
            found = [e for cid in ids for e in live_by_company.get(cid, ())]
            if code:
                found += live_by_code.get(code, [])
            found = [e for e in found if e[3] != unit]
            if found:
                rival = min(found, key=lambda e: e[:3])
                lead.rival = rival[4]
                lead.values["ownership"] = "disputed"
                lead.first_is_self = lead.values["created_on"] < rival[0]
            if lead.lost_on is None:  # a live lead now, for the rows after it
                entry = (lead.values["created_on"], 1, lead.position, unit, ("new", lead))
                live_by_company.setdefault(lead.values["company_id"], []).append(entry)
                if code:
                    live_by_code.setdefault(code, []).append(entry)

    # --- one chunk --------------------------------------------------------------------------

    def write(self, results) -> None:
        now = utcnow()
        leads = [self._lead(result, self.count + i, now) for i, result in enumerate(results)]
        self._companies(leads, now)
        self._disputes(leads)
        for lead in leads:
            if lead.lost_on is not None:
                lead.values.update(stage=LOST, stage_changed_on=lead.lost_on,
                                   lost_reason=lead.lost_reason, version=2)
        ids = _insert(self.conn, Lead.__table__, [lead.values for lead in leads], ids=True)
        for lead, lead_id in zip(leads, ids, strict=True):
            lead.id = lead_id
        self.count += len(leads)
        self.units.update(lead.values["township_id"] for lead in leads)
        self._stage_changes(leads, now)
        disputed = [lead for lead in leads if lead.rival is not None]
        dispute_rows = []
        for lead in disputed:
            rival_id = self._rival_id(lead)
            first, second = (lead.id, rival_id) if lead.first_is_self else (rival_id, lead.id)
            dispute_rows.append({"first_lead_id": first, "second_lead_id": second,
                                 "status": "open", "decision": None, "ruled_by_id": None,
                                 "ruled_at": None, "note": "", "created_at": now})
        for lead, dispute_id in zip(disputed, _insert(
                self.conn, Dispute.__table__, dispute_rows, ids=True), strict=True):
            lead.dispute_id = dispute_id
        claim_rows = [
            {"lead_id": lead.id, "township_id": lead.values["township_id"], "kind": kind,
             "effective_on": on, "amount_wan": None, "fund_entry_id": None, "status": "pending",
             "submitted_by_id": self.user.id, "submitted_at": now, "decided_at": None,
             "verified_on": None}
            for lead in leads for kind, on in lead.claims]
        claim_ids = iter(_insert(self.conn, Claim.__table__, claim_rows, ids=True))
        self._audit(leads, claim_ids, now)

    @staticmethod
    def _rival_id(lead: _Lead) -> int:
        kind, ref = lead.rival
        return ref if kind == "db" else ref.id

    def _stage_changes(self, leads: list[_Lead], now) -> None:
        rows = []
        for lead in leads:
            v = lead.values
            stage = LOST if lead.lost_on is not None else v["stage"]
            entered_stage = "contact" if lead.lost_on is not None else stage
            previous = None
            for code in pipeline.stages_up_to(entered_stage):
                rows.append({"lead_id": lead.id, "from_stage": previous, "to_stage": code,
                             "effective_on": v["created_on"], "implied": code != entered_stage,
                             "user_id": self.user.id,
                             "credited_officer_id": v["primary_officer_id"], "reason": "",
                             "lost_reason": None, "created_at": now})
                previous = code
            if lead.lost_on is not None:
                rows.append({"lead_id": lead.id, "from_stage": previous, "to_stage": LOST,
                             "effective_on": lead.lost_on, "implied": False,
                             "user_id": self.user.id,
                             "credited_officer_id": v["primary_officer_id"], "reason": "",
                             "lost_reason": lead.lost_reason, "created_at": now})
        if rows:
            _insert(self.conn, StageChange.__table__, rows)

    def _audit(self, leads: list[_Lead], claim_ids, now) -> None:
        user_id = self.user.id
        rows = []

        def entry(action, object_type, object_id, lead_id, changes):
            rows.append({"created_at": now, "user_id": user_id, "action": action,
                         "object_type": object_type, "object_id": object_id,
                         "lead_id": lead_id, "changes": changes,
                         "remote_addr": self.remote_addr})

        for lead in leads:
            created_stage = "contact" if lead.lost_on is not None else lead.values["stage"]
            entry("lead.create", "lead", lead.id, lead.id, {"stage": [None, created_stage]})
            if lead.rival is not None:
                entry("dispute.open", "dispute", lead.dispute_id, lead.id, {
                    "ownership": ["sole", "disputed"], "rival_lead_id": [None, self._rival_id(lead)]})
            for kind, on in lead.claims:
                entry("claim.submit", "claim", next(claim_ids), lead.id,
                      {"kind": [None, kind], "effective_on": [None, on.isoformat()]})
            entry("lead.import", "lead", lead.id, lead.id,
                  {"file": [None, self.filename], "row": [None, lead.row]})
        _insert(self.conn, AuditEntry.__table__, rows)
