"""Companies found or made for a lead's investor, disputes opened, and rulings.

Like every service: validate, change, ``flush()`` and audit; never commit. The lead services
call ``attach_company`` when a lead is created or its investor changes; it links the lead to
its company and, when another unit has a live lead of the same investor, marks the lead
``disputed`` and opens a dispute (``Notice`` says which unit registered it first, and when).
"""

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from rapidfuzz import process
from rapidfuzz.distance import Indel

from crm import audit
from crm.auth.models import User
from crm.auth.permissions import can
from crm.claims import services as claims
from crm.claims.models import LIVE_STATUSES, Attachment
from crm.clock import utcnow
from crm.companies.models import DECISIONS, Company, Dispute
from crm.companies.names import normalise, numbers_in, same_numbers
from crm.config import DEFAULTS
from crm.db import in_lists
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.inputs import clean_text
from crm.leads.models import Blocker, Contact, Lead
from crm.leads.pipeline import LOST
from crm.townships.models import Township
from crm.visits.models import Visit

NOTE_MAX = 2000


def threshold() -> float:
    """CRM_DUPLICATE_SIMILARITY: names at least this similar name one investor."""
    value = DEFAULTS["CRM_DUPLICATE_SIMILARITY"]
    if has_app_context():
        value = current_app.config.get("CRM_DUPLICATE_SIMILARITY", value)
    return float(value)


@dataclass(frozen=True)
class Notice:
    """What the officer of a disputed lead is told: the unit that registered the investor
    first and the date; nothing else of that lead."""

    township_name: str
    registered_on: dt.date

    def text(self) -> str:
        return str(_l("疑似撞单：该投资方已由%(unit)s于%(date)s首先登记。本项目待区投促局裁定，"
                      "裁定前不计入统计。", unit=self.township_name,
                      date=self.registered_on.isoformat()))


def _length_bounds(name_key: str, limit: float) -> tuple[int, int]:
    """Lengths a name may have to reach the threshold: a ratio ≥ t needs 2·min/(a+b) ≥ t."""
    n = len(name_key)
    return int(n * limit / (2 - limit)), int(n * (2 - limit) / limit) + 1


class CompanyIndex:
    """Every company's normalised name, read once, for a caller checking many names (an
    import's preview, its confirmation and its bulk write): ``matching`` is the similarity part
    of ``matching_company_ids``. A name carrying numbers is compared only with the names carrying
    the same numbers (others never match: ``same_numbers``); the rest by length, as
    ``matching_company_ids`` reads them, the candidates of each length range kept until a
    company is added. The same matches, without comparing thousands of numbered names (新材料
    产业园一期, 二期 …, or an import file's) with each other."""

    def __init__(self):
        self.by_length: dict[int, list[tuple[int, str]]] = {}
        self.numbered: dict[tuple, list[tuple[int, str]]] = {}
        self._ranges: dict[tuple[int, int], tuple[list[int], list[str]]] = {}
        for company_id, key in db.session.execute(sa.select(Company.id, Company.name_key)):
            self.add(company_id, key)

    def add(self, company_id: int, key: str) -> None:
        numbers = numbers_in(key)
        if numbers:
            self.numbered.setdefault(numbers, []).append((company_id, key))
        else:
            self.by_length.setdefault(len(key), []).append((company_id, key))
            self._ranges.clear()

    def candidates(self, name_key: str, limit: float) -> tuple[list[int], list[str]]:
        """(ids, names) that may reach ``limit``: the same numbers, or a plausible length."""
        numbers = numbers_in(name_key)
        if numbers:
            items = self.numbered.get(numbers, ())
            return [i for i, _k in items], [k for _i, k in items]
        bounds = _length_bounds(name_key, limit)
        if bounds not in self._ranges:
            items = [item for n in range(bounds[0], bounds[1] + 1)
                     for item in self.by_length.get(n, ())]
            self._ranges[bounds] = ([i for i, _k in items], [k for _i, k in items])
        return self._ranges[bounds]

    def matching(self, name_key: str, limit: float) -> set[int]:
        """The companies whose name is at least ``limit`` similar to ``name_key`` with the
        same numbers."""
        if not name_key:
            return set()
        company_ids, keys = self.candidates(name_key, limit)
        if not keys:
            return set()
        return {company_ids[position] for _key, _score, position in process.extract(
            name_key, keys, scorer=Indel.normalized_similarity, score_cutoff=limit, limit=None)}


# --- companies -----------------------------------------------------------------------------------

def find_company(name: str, credit_code: str | None) -> Company | None:
    """The company of that credit code, else the first of that normalised name (whose code is
    unknown or the same)."""
    if credit_code:
        company = db.session.scalar(sa.select(Company).where(Company.credit_code == credit_code))
        if company is not None:
            return company
    stmt = sa.select(Company).where(Company.name_key == normalise(name)).order_by(Company.id)
    if credit_code:
        stmt = stmt.where(Company.credit_code.is_(None))
    return db.session.scalars(stmt.limit(1)).first()


def company_for(name: str, credit_code: str | None, origin: str = "",
                index: CompanyIndex | None = None) -> Company:
    """The company a lead's investor names: found by credit code or normalised name, else new.
    A company learns a credit code or home city it did not know."""
    name = (name or "").strip()
    company = find_company(name, credit_code)
    if company is None:
        company = Company(name=name[:200], name_key=normalise(name)[:200],
                          credit_code=credit_code or None, origin=(origin or "")[:64],
                          created_at=utcnow())
        db.session.add(company)
        db.session.flush()
        if index is not None:
            index.add(company.id, company.name_key)
        return company
    if credit_code and company.credit_code is None:
        company.credit_code = credit_code
    if origin and not company.origin:
        company.origin = origin[:64]
    return company


def matching_company_ids(name_key: str, credit_code: str | None,
                         index: CompanyIndex | None = None) -> set[int]:
    """The companies naming the same investor: the same credit code, the same normalised name,
    or a name at least ``threshold()`` similar (rapidfuzz over the names of a plausible
    length). ``index`` holds the names for a caller checking many (an import)."""
    limit = threshold()
    ids = set()
    if credit_code:
        ids.update(db.session.scalars(
            sa.select(Company.id).where(Company.credit_code == credit_code)))
    if index is not None:
        return ids | index.matching(name_key, limit)
    low, high = _length_bounds(name_key, limit)
    rows = db.session.execute(sa.select(Company.id, Company.name_key).where(
        sa.func.length(Company.name_key).between(low, high))).all()
    company_ids, keys = [r[0] for r in rows], [r[1] for r in rows]
    if name_key and keys:
        for key, _score, position in process.extract(
                name_key, keys, scorer=Indel.normalized_similarity, score_cutoff=limit,
                limit=None):
            if same_numbers(name_key, key):
                ids.add(company_ids[position])
    return ids


def rival_of(lead: Lead, index: CompanyIndex | None = None) -> Lead | None:
    """The first-registered live lead (not lost, not merged) of another unit for the same
    investor as ``lead`` (earliest ``created_on``, then lowest id), or None."""
    company_ids = matching_company_ids(normalise(lead.company), lead.credit_code, index)
    same = [Lead.company_id.in_(company_ids)] if company_ids else []
    if lead.credit_code:
        same.append(Lead.credit_code == lead.credit_code)
    if not same:
        return None
    stmt = (sa.select(Lead)
            .where(sa.or_(*same), Lead.township_id != lead.township_id,
                   Lead.stage != LOST, Lead.ownership != "merged")
            .order_by(Lead.created_on, Lead.id).limit(1))
    if lead.id is not None:
        stmt = stmt.where(Lead.id != lead.id)
    return db.session.scalars(stmt).first()


def notice_for(rival: Lead) -> Notice:
    return Notice(db.session.get(Township, rival.township_id).name, rival.created_on)


def first_registered(a: Lead, b: Lead) -> tuple[Lead, Lead]:
    """(first, second) by the rule: earliest created_on, then lowest id."""
    return (a, b) if (a.created_on, a.id) <= (b.created_on, b.id) else (b, a)


def attach_company(user: User | None, lead: Lead,
                   index: CompanyIndex | None = None) -> Notice | None:
    """Link ``lead`` (flushed) to its company; open a dispute when another unit has a live lead
    of the same investor and the lead is not in an open dispute already. Returns the notice for
    its officer, or None."""
    company = company_for(lead.company, lead.credit_code, lead.origin, index)
    lead.company_id = company.id
    if lead.ownership != "sole":
        return None
    rival = rival_of(lead, index)
    if rival is None:
        return None
    return open_dispute(user, lead, rival)


def open_dispute(user: User | None, lead: Lead, rival: Lead) -> Notice:
    """Mark ``lead`` disputed against ``rival`` (of another unit) and open the dispute."""
    first, second = first_registered(lead, rival)
    lead.ownership = "disputed"
    dispute = Dispute(first_lead_id=first.id, second_lead_id=second.id, status="open",
                      created_at=utcnow())
    db.session.add(dispute)
    db.session.flush()
    audit.record(user, "dispute.open", dispute, lead_id=lead.id, changes={
        "ownership": ["sole", "disputed"], "rival_lead_id": [None, rival.id]})
    return notice_for(first)


def open_dispute_notice(lead: Lead) -> Notice | None:
    """For a disputed lead's page: who registered the investor first, from its open dispute."""
    if lead.ownership != "disputed":
        return None
    dispute = db.session.scalars(
        sa.select(Dispute).where(Dispute.status == "open", sa.or_(
            Dispute.first_lead_id == lead.id, Dispute.second_lead_id == lead.id))
        .order_by(Dispute.id).limit(1)).first()
    if dispute is None:
        return None
    return notice_for(db.session.get(Lead, dispute.first_lead_id))


@dataclass
class LiveLeads:
    """The live leads (not lost, not merged) of some companies and credit codes, read once, for
    an import's preview: who holds each company and credit code first."""

    by_company: dict
    by_code: dict

    @classmethod
    def read(cls, company_ids, credit_codes) -> "LiveLeads":
        by_company: dict = {}
        by_code: dict = {}
        conditions = in_lists(Lead.company_id, company_ids)
        conditions += in_lists(Lead.credit_code, credit_codes)
        for where in conditions:  # one indexed look-up each (an OR of them reads every lead)
            for row in db.session.execute(
                    sa.select(Lead.id, Lead.company_id, Lead.credit_code, Lead.township_id,
                              Lead.created_on)
                    .where(where, Lead.stage != LOST, Lead.ownership != "merged")):
                if row.company_id is not None and row.company_id in company_ids:
                    by_company.setdefault(row.company_id, {})[row.id] = row
                if row.credit_code and row.credit_code in credit_codes:
                    by_code.setdefault(row.credit_code, {})[row.id] = row
        return cls({k: list(v.values()) for k, v in by_company.items()},
                   {k: list(v.values()) for k, v in by_code.items()})

    def first_elsewhere(self, company_ids, credit_code, township_id):
        """(township_id, created_on) of the first-registered live lead of another unit."""
        found = [r for cid in company_ids for r in self.by_company.get(cid, ())]
        if credit_code:
            found += self.by_code.get(credit_code, [])
        found = [r for r in found if r.township_id != township_id]
        if not found:
            return None
        first = min(found, key=lambda r: (r.created_on, r.id))
        return first.township_id, first.created_on


def preview_notice(company_ids: Collection[int], credit_code: str | None, township_id: int,
                   created_on: dt.date, live: LiveLeads, unit_names: dict) -> Notice | None:
    """An import row's notice: would it be disputed, and who registered the investor first
    (``company_ids``: ``matching_company_ids`` of the row's investor)."""
    found = live.first_elsewhere(company_ids, credit_code, township_id)
    if found is None:
        return None
    unit_id, first_on = found
    if created_on < first_on:  # the row is dated first
        return Notice(unit_names.get(township_id, ""), created_on)
    return Notice(unit_names.get(unit_id, ""), first_on)


# --- rulings -------------------------------------------------------------------------------------

def rule(user: User, dispute: Dispute, decision: str, note: str = "") -> Dispute:
    """裁定: ``keep_first``/``keep_second`` merge the other lead into the kept one,
    ``separate`` lets both stand. Both leads' units are told by mail (``crm.companies.mail``,
    queued with this transaction)."""
    if not can(user, "dispute.review"):
        raise Forbidden(_l("仅区投促局审核员和管理员可裁定撞单"))
    if dispute.status != "open":
        raise Conflict(_l("该撞单已裁定"))
    note = clean_text(note or "").strip()
    if decision not in DECISIONS:
        raise DomainError(_l("请选择裁定结果"), {"decision": [_l("请选择裁定结果")]})
    if len(note) > NOTE_MAX:
        raise DomainError(_l("说明过长"), {"note": [_l("说明过长")]})
    first, second = dispute.first_lead, dispute.second_lead
    for lead in (first, second):
        if db.session.get_bind().dialect.name != "sqlite":
            db.session.refresh(lead, with_for_update=True)
    if decision == "separate":
        kept = [first, second]
    else:
        keep, merge = (first, second) if decision == "keep_first" else (second, first)
        merge_into(user, merge, keep, dispute)
        kept = [keep]
    dispute.status = "ruled"
    dispute.decision = decision
    dispute.note = note
    dispute.ruled_by_id = user.id
    dispute.ruled_at = utcnow()
    db.session.flush()
    for lead in kept:
        if lead.ownership == "disputed" and not _still_disputed(lead, dispute):
            lead.ownership = "sole"
        _bump(lead)
    db.session.flush()
    audit.record(user, "dispute.rule", dispute, lead_id=first.id, changes={
        "decision": [None, decision], "lead_ids": [None, dispute.lead_ids]})
    audit.record(user, "dispute.rule", dispute, lead_id=second.id, changes={
        "decision": [None, decision], "lead_ids": [None, dispute.lead_ids]})
    from crm.companies import mail

    mail.queue_ruling(dispute)
    return dispute


def _still_disputed(lead: Lead, ruled: Dispute) -> bool:
    """Whether ``lead`` is the second of another open dispute."""
    return db.session.scalar(sa.select(sa.func.count(Dispute.id)).where(
        Dispute.status == "open", Dispute.id != ruled.id,
        Dispute.second_lead_id == lead.id)) > 0


def _bump(lead: Lead) -> None:
    lead.version = (lead.version or 1) + 1
    lead.updated_at = utcnow()


def merge_into(user: User, merged: Lead, kept: Lead, dispute: Dispute) -> None:
    """Move ``merged``'s visits, contacts, blockers and evidence files into ``kept``; withdraw
    its live claims (the kept lead's own milestones count; nothing is counted twice) and close
    it as ``merged``. Its stage history, capital entries and audit trail stay with it, for the
    record."""
    moved = {"visits": 0, "contacts": 0, "blockers": 0, "attachments": 0, "claims_withdrawn": 0}
    for visit in db.session.scalars(sa.select(Visit).where(Visit.lead_id == merged.id)):
        visit.lead_id, visit.township_id = kept.id, kept.township_id
        moved["visits"] += 1
    for contact in db.session.scalars(sa.select(Contact).where(Contact.lead_id == merged.id)):
        contact.lead = kept
        moved["contacts"] += 1
    for blocker in db.session.scalars(sa.select(Blocker).where(Blocker.lead_id == merged.id)):
        blocker.lead = kept
        moved["blockers"] += 1
    for attachment in db.session.scalars(
            sa.select(Attachment).where(Attachment.lead_id == merged.id)):
        attachment.lead = kept
        moved["attachments"] += 1
    for claim in list(merged.claims):
        if claim.status in LIVE_STATUSES:
            claims.withdraw(user, claim, "merged")
            moved["claims_withdrawn"] += 1
    if merged.last_visit_on and (kept.last_visit_on is None
                                 or merged.last_visit_on > kept.last_visit_on):
        kept.last_visit_on = merged.last_visit_on
    old = merged.ownership
    merged.ownership = "merged"
    merged.merged_into_id = kept.id
    _bump(merged)
    # other open disputes of the merged lead now concern the lead it lives on in
    for other in db.session.scalars(sa.select(Dispute).where(
            Dispute.status == "open", Dispute.id != dispute.id,
            sa.or_(Dispute.first_lead_id == merged.id, Dispute.second_lead_id == merged.id))):
        ids = [kept.id if i == merged.id else i for i in (other.first_lead_id,
                                                          other.second_lead_id)]
        if ids[0] == ids[1]:  # both sides now the kept lead: nothing left to rule
            other.status, other.ruled_by_id, other.ruled_at = "ruled", user.id, utcnow()
            other.note = str(_l("随撞单 #%(id)s 的裁定合并", id=dispute.id))
            continue
        a, b = (db.session.get(Lead, i) for i in ids)
        first, second = first_registered(a, b)
        other.first_lead_id, other.second_lead_id = first.id, second.id
    db.session.flush()
    audit.record(user, "lead.merged", merged, lead_id=merged.id, changes={
        "ownership": [old, "merged"], "merged_into_id": [None, kept.id]})
    audit.record(user, "lead.merged_in", kept, lead_id=kept.id, changes={
        "merged_lead_id": [None, merged.id], **{k: [0, v] for k, v in moved.items() if v}})
