"""Changing leads: create, edit, move between stages, assign, funds and blockers.

Services validate, change, ``flush()`` and audit, and never commit: the request (or command)
commits once, so a change and its history land together or not at all.
"""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.models import UNIT_ROLES, User
from crm.auth.permissions import can
from crm.claims import services as claims
from crm.clock import today
from crm.companies import services as companies
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.industries import lookup
from crm.industries.models import Industry
from crm.inputs import DATE_MIN, DATE_RANGE, clean_text, has_visible
from crm.leads import pipeline
from crm.leads.models import (
    BLOCKER_KINDS,
    KEY_LEVELS,
    SOURCES,
    Blocker,
    Contact,
    FundEntry,
    Lead,
    LeadOfficer,
    StageChange,
)
from crm.leads.validation import company_key, credit_code_valid, normalize_credit_code, phone_valid
from crm.townships.models import Township

#: Fields a lead edit may change directly (stage, officers and funds have their own services).
EDITABLE_FIELDS = (
    "name", "company", "credit_code", "origin", "industry", "chain", "source", "investment_wan",
    "land_mu", "expected_output_wan", "expected_tax_wan", "jobs", "sponsor", "contact_name",
    "contact_phone", "next_follow_up", "planned_sign_date", "planned_start_date",
    "planned_production_date", "stats_included_on", "notes", "key_level",
)
_AMOUNTS = ("investment_wan", "land_mu", "expected_output_wan", "expected_tax_wan")
#: Decimal places a field keeps (Fixed(n) columns); amounts in 万元 keep 4.
_PLACES = {"land_mu": 2}
_PLANNED = ("planned_sign_date", "planned_start_date", "planned_production_date")


def validate_lead_fields(data: dict, *, creating: bool) -> None:
    """Rules on a lead's own fields; raises DomainError naming every field at fault."""
    errors: dict[str, list] = {}

    def err(field, message):
        errors.setdefault(field, []).append(message)

    if creating or "name" in data:
        if not has_visible(data.get("name")):
            err("name", _l("请填写项目名称"))
    if creating or "company" in data:
        if not has_visible(data.get("company")):
            err("company", _l("请填写投资方"))
    if data.get("credit_code") and not credit_code_valid(data["credit_code"]):
        err("credit_code", _l("统一社会信用代码无效（应为18位，校验位须正确）"))
    if "source" in data and data["source"] not in SOURCES:
        err("source", _l("未知的招商方式"))
    if "key_level" in data and data["key_level"] not in KEY_LEVELS:
        err("key_level", _l("未知的重点项目级别"))
    for field in _AMOUNTS:
        value = data.get(field)
        if value is None:
            continue
        if (not isinstance(value, Decimal | int) or not Decimal(value).is_finite()
                or Decimal(value) < 0):
            err(field, _l("金额须为不小于0的数字"))
        elif Decimal(value).as_tuple().exponent < -_PLACES.get(field, 4):
            err(field, _l("最多保留%(n)s位小数", n=_PLACES.get(field, 4)))
        elif Decimal(value) >= Decimal("1e12"):
            err(field, _l("数值过大"))
    if data.get("jobs") is not None and (not isinstance(data["jobs"], int) or data["jobs"] < 0):
        err("jobs", _l("就业人数须为不小于0的整数"))
    if data.get("contact_phone") and not phone_valid(data["contact_phone"]):
        err("contact_phone", _l("电话号码格式不正确"))
    planned = [(f, data.get(f)) for f in _PLANNED if data.get(f)]
    for (_f1, d1), (f2, d2) in zip(planned, planned[1:], strict=False):
        if d2 < d1:
            err(f2, _l("计划日期须按签约、开工、投产的顺序"))
    for field in (*_PLANNED, "next_follow_up", "stats_included_on", "created_on"):
        value = data.get(field)
        if value is not None and not (dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31)):
            err(field, _l("日期不合理"))
    if data.get("stats_included_on") and data["stats_included_on"] > today():
        err("stats_included_on", _l("纳统日期不能晚于今天"))
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)


def _clean(data: dict) -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = value.strip()
        out[key] = value
    if out.get("credit_code"):
        out["credit_code"] = normalize_credit_code(out["credit_code"])
    elif "credit_code" in out:
        out["credit_code"] = None
    return out


def resolve_industry(data: dict, current_id: int | None = None) -> tuple[Industry | None, str] | None:
    """The industry ``data`` names, as (the industry or None, the text to keep); None when ``data``
    says nothing of it. ``industry_id`` (already resolved, e.g. by an import's preview) wins over
    the text ``industry``, which must be a name or an alias on the list: an active industry, or
    the lead's own (``current_id``). "" is no industry; 待归类 leaves it unsorted."""
    if data.get("industry_id"):
        industry = db.session.get(Industry, data["industry_id"])
        if industry is None:
            raise DomainError(_l("产业不存在"), {"industry": [_l("产业不存在")]})
        return industry, data.get("industry") or industry.name
    if "industry" not in data or data["industry"] is None:
        return None
    text = data["industry"].strip()
    if not text:
        return None, ""
    if lookup.is_unsorted(text):
        return None, text
    industry = lookup.find(text)
    if industry is None or not (industry.active or industry.id == current_id):
        message = _l("产业“%(text)s”不在产业目录中，请填写目录中的产业名称或别名", text=text)
        raise DomainError(message, {"industry": [message]})
    return industry, text


def _industry_words(lead: Lead) -> str:
    """The industry as the audit trail keeps it: the managed name, else the text as typed (so
    clearing a 待归类 lead's industry keeps its text in the trail)."""
    return lead.industry_ref.name if lead.industry_ref is not None else lead.industry_text


def find_duplicates(township_id: int, company: str, credit_code: str | None, exclude_id=None):
    """Leads of the unit with the same normalised company or the same credit code."""
    conditions = [Lead.company_key == company_key(company)]
    if credit_code:
        conditions.append(Lead.credit_code == normalize_credit_code(credit_code))
    stmt = sa.select(Lead).where(Lead.township_id == township_id, sa.or_(*conditions))
    if exclude_id:
        stmt = stmt.where(Lead.id != exclude_id)
    return list(db.session.scalars(stmt.limit(5)))


def create_lead(user: User, data: dict, *, company_index=None) -> Lead:
    """A new lead; its stages up to ``stage`` count as entered on ``created_on``; linked to its
    company, and disputed when another unit has a live lead of it (``lead.dispute_notice``).
    ``company_index`` (crm.companies.services.CompanyIndex): for many leads at once."""
    data = _clean(data)
    township_id = data.get("township_id") or user.township_id
    if not can(user, "lead.create", township_id):
        raise Forbidden(_l("您无权在该单位新建项目"))
    if township_id is None:  # a district admin must name the unit
        raise DomainError(_l("请选择单位"), {"township_id": [_l("请选择单位")]})
    if db.session.get(Township, township_id) is None:
        raise DomainError(_l("单位不存在"), {"township_id": [_l("单位不存在")]})
    stage = data.get("stage") or "contact"
    created_on = data.get("created_on") or today()
    errors = {}
    if stage not in pipeline.ORDERED_STAGES:
        errors["stage"] = [_l("新项目的阶段须为接触、洽谈、签约、开工或投产")]
    if created_on > today():
        errors["created_on"] = [_l("录入日期不能晚于今天")]
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)
    validate_lead_fields(data, creating=True)
    industry, industry_text = resolve_industry(data) or (None, "")
    primary_id = data.get("primary_officer_id") or (
        user.id if can(user, "lead.assigned_to_me") else None)
    _check_officers(township_id, [primary_id, *data.get("helper_ids", [])])

    lead = Lead(
        township_id=township_id,
        stage=stage,
        created_on=created_on,
        stage_changed_on=created_on,
        primary_officer_id=primary_id,
        created_by_id=user.id,
        company_key=company_key(data["company"]),
        industry_ref=industry,
        industry_text=industry_text,
        **{k: data[k] for k in EDITABLE_FIELDS if data.get(k) is not None and k != "industry"},
    )
    for helper_id in dict.fromkeys(data.get("helper_ids", [])):
        if helper_id != primary_id:
            lead.helpers.append(LeadOfficer(user_id=helper_id))
    previous = None
    for code in pipeline.stages_up_to(stage):
        lead.stage_changes.append(StageChange(
            from_stage=previous, to_stage=code, effective_on=created_on, user_id=user.id,
            credited_officer_id=primary_id, implied=code != stage,
        ))
        previous = code
    db.session.add(lead)
    db.session.flush()
    audit.record(user, "lead.create", lead, lead_id=lead.id, changes={"stage": [None, stage]})
    #: What its officer is told when another unit registered the investor first (or None).
    lead.dispute_notice = companies.attach_company(user, lead, company_index)
    claims.stages_entered(user, lead, pipeline.stages_up_to(stage), stage, created_on)
    if lead.stats_included_on:
        claims.stats_included_changed(user, lead, None, lead.stats_included_on)
    return lead


def _check_officers(township_id: int, user_ids) -> None:
    ids = {i for i in user_ids if i}
    if not ids:
        return
    found = set(db.session.scalars(
        sa.select(User.id).where(
            User.id.in_(ids), User.township_id == township_id, User.active,
            User.role.in_(UNIT_ROLES),
        )
    ))
    if found != ids:
        raise DomainError(
            _l("负责人须为本单位的在岗人员"), {"primary_officer_id": [_l("负责人须为本单位的在岗人员")]}
        )


def update_lead(user: User, lead: Lead, data: dict, version: int | None) -> Lead:
    """Apply changed fields; refused with Conflict when ``version`` is stale."""
    if not can(user, "lead.edit", lead):
        raise Forbidden(_l("您无权修改该项目"))
    lock(lead)
    check_version(lead, version)
    data = _clean({k: v for k, v in data.items() if k in EDITABLE_FIELDS})
    merged = {f: getattr(lead, f) for f in EDITABLE_FIELDS} | data
    validate_lead_fields(merged, creating=False)
    changes = {}
    if "industry" in data and data["industry"] != lead.industry:
        industry, industry_text = resolve_industry(data, lead.industry_id)
        if industry is None and lookup.is_unsorted(industry_text):
            industry_text = lead.industry_text  # 待归类 keeps the text as it was
        before = (lead.industry_id, lead.industry_text, _industry_words(lead))
        if industry is None or industry.id != lead.industry_id:  # another alias: no change
            lead.industry_ref, lead.industry_text = industry, industry_text
        if (industry.id if industry else None, lead.industry_text) != before[:2]:
            changes["industry"] = [before[2], _industry_words(lead)]
    data.pop("industry", None)
    for field, value in data.items():
        old = getattr(lead, field)
        if old != value:
            changes[field] = [old, value]
            setattr(lead, field, value)
    if "company" in changes:
        lead.company_key = company_key(lead.company)
    lead.dispute_notice = None
    if {"company", "credit_code"} & changes.keys():
        db.session.flush()
        lead.dispute_notice = companies.attach_company(user, lead)
    if changes:
        bump(lead)
        audit.record(user, "lead.edit", lead, lead_id=lead.id, changes=changes)
    if "stats_included_on" in changes:
        claims.stats_included_changed(user, lead, *changes["stats_included_on"])
    db.session.flush()
    return lead


def lock(lead: Lead) -> None:
    """Take the lead's row lock and re-read it before a read-check-write (version, stage, sums).

    Without it two PostgreSQL transactions could both pass the version check and the later one
    silently overwrite the earlier. SQLite needs nothing: a write request's transaction holds the
    database's write lock from its BEGIN IMMEDIATE (crm/db_events.py).
    """
    if db.session.get_bind().dialect.name != "sqlite":
        db.session.refresh(lead, with_for_update=True)


def check_version(lead: Lead, version: int | None) -> None:
    if version is None:
        raise DomainError(_l("缺少版本号"), {"version": [_l("缺少版本号")]})
    if int(version) != lead.version:
        raise Conflict(
            _l("该项目已被他人修改（当前版本 %(v)s），您的修改未保存；请查看最新内容后再改。",
               v=lead.version),
            changes=changes_since(lead, int(version)),
        )


#: Audit actions whose entry is one write of the lead (one version) and whose changes are the
#: lead's own fields. Other writes that bump the version are read from their own rows below.
_FIELD_WRITES = ("lead.edit", "lead.assign")
#: Audit actions that bump the version without changing a field a client sends.
_OTHER_WRITES = ("lead.funds", "visit.edit")


def changes_since(lead: Lead, version: int) -> dict:
    """What the lead's writes after the user's ``version`` changed, as ``{field: [old, new]}``:
    field edits and assignments from the audit trail, stage moves from the stage history
    (``stage``, and ``lost_reason`` on a move to lost). The newest ``lead.version -
    version`` writes are read, every kind of write counting one (funds and visits too)."""
    from crm.audit.models import AuditEntry
    from crm.visits.models import Visit

    gap = max(min(lead.version - version, lead.version), 0)
    if not gap:
        return {}
    audits = db.session.execute(
        sa.select(AuditEntry.created_at, AuditEntry.action, AuditEntry.changes)
        .where(AuditEntry.lead_id == lead.id,
               AuditEntry.action.in_(_FIELD_WRITES + _OTHER_WRITES))
        .order_by(AuditEntry.id.desc()).limit(gap)).all()
    moves = db.session.execute(
        sa.select(StageChange.created_at, StageChange.from_stage, StageChange.to_stage,
                  StageChange.lost_reason, StageChange.id)
        .where(StageChange.lead_id == lead.id, StageChange.implied.is_(False),
               StageChange.from_stage.is_not(None))
        .order_by(StageChange.id.desc()).limit(gap)).all()
    visits = db.session.scalars(
        sa.select(Visit.created_at).where(Visit.lead_id == lead.id)
        .order_by(Visit.id.desc()).limit(gap)).all()
    writes = [(at, {} if action in _OTHER_WRITES else changes) for at, action, changes in audits]
    for at, old, new, lost_reason, _id in moves:
        move = {"stage": [old, new]}
        if new == pipeline.LOST:  # a lead in progress has no lost reason
            move["lost_reason"] = [None, lost_reason]
        writes.append((at, move))
    writes += [(at, {}) for at in visits]
    writes.sort(key=lambda write: write[0], reverse=True)
    changed: dict = {}
    for _at, changes in writes[:gap]:  # newest first: the newest value, the oldest old one
        for field, (old, new) in changes.items():
            changed.setdefault(field, [old, new])
            changed[field][0] = old
    return changed


def bump(lead: Lead) -> None:
    lead.version = (lead.version or 1) + 1
    lead.updated_at = dt.datetime.now(dt.UTC)


def furthest_stage(lead: Lead) -> str:
    """The furthest active stage the lead has entered (for a lost lead: before it was lost)."""
    reached = [c.to_stage for c in lead.stage_changes if c.to_stage in pipeline.STAGE_RANK]
    return max(reached, key=pipeline.STAGE_RANK.__getitem__, default="contact")


#: Why a move of a kind is refused to a user who may move the lead otherwise.
MOVE_REFUSALS = {
    "forward": _l("您无权变更该项目的阶段"),
    "lose": _l("您无权变更该项目的阶段"),
    "back": _l("退回上一阶段须由镇街负责人或区招商局操作"),
    "reopen": _l("重新启动已终止项目须由镇街负责人或区招商局操作"),
}


def allowed_moves(user: User, lead: Lead) -> list[pipeline.Move]:
    """The moves ``user`` may make on ``lead`` now, in the pipeline's order: all that the move
    page, the lead page's box and the board's dialog offer. The stage rules come from
    ``pipeline.possible_moves``, who may make each kind from ``can`` (``MOVE_ACTIONS``).
    Reads no stage history (``entered`` of a reopening is worked out by ``move_stage``)."""
    if not can(user, "lead.move", lead):
        return []
    return [m for m in pipeline.possible_moves(lead.stage)
            if can(user, pipeline.MOVE_ACTIONS[m.kind], lead)]


def move_stage(
    user: User,
    lead: Lead,
    to: str,
    *,
    on: dt.date | None = None,
    reason: str = "",
    lost_reason: str | None = None,
    version: int | None = None,
) -> list[StageChange]:
    """Move ``lead`` to stage ``to`` by the stage rules (crm/leads/pipeline.py); returns the
    stage changes written."""
    if not can(user, "lead.move", lead):
        raise Forbidden(_l("您无权变更该项目的阶段"))
    lock(lead)
    if version is not None:
        check_version(lead, version)
    on = on or today()
    reason = clean_text(reason or "").strip()
    try:
        move = pipeline.classify_move(lead.stage, to, reopen_from=furthest_stage(lead))
        pipeline.check_effective_date(on, today(), lead.stage_changed_on)
    except pipeline.StageRuleError as exc:
        raise DomainError(exc.message, {exc.field: [exc.message]}) from exc
    if not can(user, pipeline.MOVE_ACTIONS[move.kind], lead):
        raise Forbidden(MOVE_REFUSALS[move.kind], {"to": [MOVE_REFUSALS[move.kind]]})
    if move.needs_reason and not has_visible(reason):
        raise DomainError(_l("请填写原因"), {"reason": [_l("退回或重新启动须填写原因")]})
    if move.kind == "lose" and lost_reason not in pipeline.LOST_REASONS:
        raise DomainError(
            _l("请选择终止原因"), {"lost_reason": [_l("请选择终止原因")]}
        )
    written = []
    previous = lead.stage
    for code in move.entered:
        change = StageChange(
            from_stage=previous, to_stage=code, effective_on=on, user_id=user.id,
            credited_officer_id=lead.primary_officer_id, implied=code != to,
            reason=reason if code == to else "",
            lost_reason=lost_reason if code == pipeline.LOST else None,
        )
        lead.stage_changes.append(change)
        written.append(change)
        previous = code
    lead.stage = to
    lead.stage_changed_on = on
    lead.lost_reason = lost_reason if to == pipeline.LOST else None
    bump(lead)
    db.session.flush()
    claims.stages_entered(user, lead, move.entered, to, on)
    return written


def assign(user: User, lead: Lead, primary_id: int | None, helper_ids, sponsor=None) -> Lead:
    """Set the primary officer, helpers and 帮包领导 (heads of the unit and admins)."""
    if not can(user, "lead.assign", lead):
        raise Forbidden(_l("仅镇街负责人和区招商局可分配负责人"))
    lock(lead)
    helper_ids = [i for i in dict.fromkeys(helper_ids or []) if i and i != primary_id]
    _check_officers(lead.township_id, [primary_id, *helper_ids])
    old = {"primary_officer_id": lead.primary_officer_id,
           "helper_ids": sorted(h.user_id for h in lead.helpers), "sponsor": lead.sponsor}
    lead.primary_officer_id = primary_id
    lead.helpers = [LeadOfficer(user_id=i) for i in helper_ids]
    if sponsor is not None:
        lead.sponsor = sponsor.strip()
    new = {"primary_officer_id": primary_id, "helper_ids": sorted(helper_ids),
           "sponsor": lead.sponsor}
    changes = {k: [old[k], new[k]] for k in old if old[k] != new[k]}
    if changes:
        bump(lead)
        audit.record(user, "lead.assign", lead, lead_id=lead.id, changes=changes)
    db.session.flush()
    return lead


def add_funds(user: User, lead: Lead, arrived_on: dt.date, amount_wan: Decimal) -> FundEntry:
    """A dated capital-arrival entry; the lead's sum follows."""
    if not can(user, "lead.funds", lead):
        raise Forbidden(_l("您无权登记该项目的到位资金"))
    errors = {}
    if arrived_on is None or arrived_on > today():
        errors["arrived_on"] = [_l("到位日期不能为空，也不能晚于今天")]
    elif arrived_on < DATE_MIN:
        errors["arrived_on"] = [DATE_RANGE]
    if amount_wan is None or not Decimal(amount_wan).is_finite() or Decimal(amount_wan) <= 0:
        errors["amount_wan"] = [_l("金额须大于0")]
    elif Decimal(amount_wan).as_tuple().exponent < -4 or Decimal(amount_wan) >= Decimal("1e12"):
        errors["amount_wan"] = [_l("金额格式不正确")]
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)
    lock(lead)
    entry = FundEntry(lead=lead, arrived_on=arrived_on, amount_wan=amount_wan, user_id=user.id)
    db.session.add(entry)
    lead.funds_arrived_wan = (lead.funds_arrived_wan or Decimal(0)) + Decimal(amount_wan)
    bump(lead)
    db.session.flush()
    audit.record(user, "lead.funds", entry, lead_id=lead.id,
                 changes={"amount_wan": [None, amount_wan], "arrived_on": [None, arrived_on]})
    claims.funds_added(user, lead, entry)
    return entry


def add_contact(user: User, lead: Lead, name: str, title: str = "", phone: str = "") -> Contact:
    """Another contact person at the investor."""
    if not can(user, "lead.edit", lead):
        raise Forbidden(_l("您无权修改该项目"))
    name, title, phone = (name or "").strip(), (title or "").strip(), (phone or "").strip()
    errors = {}
    if not has_visible(name):
        errors["name"] = [_l("请填写联系人姓名")]
    if phone and not phone_valid(phone):
        errors["phone"] = [_l("电话号码格式不正确")]
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)
    contact = Contact(lead=lead, name=name[:64], title=title[:64], phone=phone[:32])
    db.session.add(contact)
    db.session.flush()
    audit.record(user, "contact.add", contact, lead_id=lead.id,
                 changes={"contact_name": [None, name], "contact_phone": [None, phone]})
    return contact


def add_blocker(user: User, lead: Lead, kind: str, description: str, owner: str = "",
                opened_on: dt.date | None = None) -> Blocker:
    if not can(user, "lead.blockers", lead):
        raise Forbidden(_l("您无权修改该项目"))
    errors = {}
    if kind not in BLOCKER_KINDS:
        errors["kind"] = [_l("请选择问题类型")]
    if not has_visible(description):
        errors["description"] = [_l("请描述问题")]
    opened_on = opened_on or today()
    if opened_on > today():
        errors["opened_on"] = [_l("日期不能晚于今天")]
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)
    blocker = Blocker(lead=lead, kind=kind, description=description.strip(), owner=owner.strip(),
                      opened_on=opened_on, created_by_id=user.id)
    db.session.add(blocker)
    db.session.flush()
    audit.record(user, "blocker.add", blocker, lead_id=lead.id,
                 changes={"kind": [None, kind], "description": [None, blocker.description]})
    return blocker


def resolve_blocker(user: User, blocker: Blocker, resolution: str = "",
                    resolved_on: dt.date | None = None) -> Blocker:
    if not can(user, "lead.blockers", blocker.lead):
        raise Forbidden(_l("您无权修改该项目"))
    if not blocker.is_open:
        raise DomainError(_l("该问题已解决"))
    resolved_on = resolved_on or today()
    if resolved_on > today() or resolved_on < blocker.opened_on:
        raise DomainError(_l("解决日期不合理"), {"resolved_on": [_l("解决日期不合理")]})
    blocker.resolved_on = resolved_on
    blocker.resolution = (resolution or "").strip()
    db.session.flush()
    audit.record(user, "blocker.resolve", blocker, lead_id=blocker.lead_id,
                 changes={"resolved_on": [None, resolved_on]})
    return blocker

