"""申请退回: asking for a move back and deciding on it.

Like every service: validate, change, ``flush()``, audit; never commit. The mail of each step
is queued in the same transaction (``crm.moveback.mail``) and sent after the commit.
"""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.models import User
from crm.auth.permissions import can
from crm.clock import today, utcnow
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.inputs import clean_text, has_visible
from crm.leads import pipeline
from crm.leads import services as lead_services
from crm.leads.models import Lead
from crm.moveback import mail
from crm.moveback.models import DECISIONS, MoveBackRequest

TEXT_MAX = 2000


def pending_for(lead: Lead) -> MoveBackRequest | None:
    """The lead's request still waiting for a decision (at most one)."""
    return db.session.scalar(sa.select(MoveBackRequest).where(
        MoveBackRequest.lead_id == lead.id, MoveBackRequest.status == "pending"))


def back_targets(user: User, lead: Lead) -> list[str]:
    """The stages ``user`` may ask to move ``lead`` back to (none unless they may ask)."""
    if not can(user, "lead.move_back_request", lead):
        return []
    return [m.to_stage for m in pipeline.possible_moves(lead.stage) if m.kind == "back"]


def request_move_back(user: User, lead: Lead, to: str, reason: str,
                      on: dt.date | None = None) -> MoveBackRequest:
    """The lead's officer asks the unit's head to move ``lead`` back to ``to``."""
    if not can(user, "lead.move_back_request", lead):
        raise Forbidden(_l("只有项目的负责人员可以申请退回"))
    lead_services.lock(lead)
    on = on or today()
    reason = clean_text(reason or "").strip()
    errors: dict[str, list] = {}
    if to not in back_targets(user, lead):
        errors["to_stage"] = [_l("只能申请退回到当前阶段之前的阶段")]
    try:
        pipeline.check_effective_date(on, today(), lead.stage_changed_on)
    except pipeline.StageRuleError as exc:
        errors["on"] = [exc.message]
    if not has_visible(reason):
        errors["reason"] = [_l("请填写退回原因")]
    elif len(reason) > TEXT_MAX:
        errors["reason"] = [_l("原因不能超过 %(n)s 个字", n=TEXT_MAX)]
    if errors:
        raise DomainError(_l("请检查退回申请"), errors)
    if pending_for(lead) is not None:
        raise DomainError(_l("该项目已有待审批的退回申请"),
                          {"to_stage": [_l("该项目已有待审批的退回申请")]})
    request = MoveBackRequest(lead=lead, requested_by_id=user.id, from_stage=lead.stage,
                              to_stage=to, reason=reason, effective_on=on, status="pending")
    db.session.add(request)
    db.session.flush()
    audit.record(user, "move_back.request", request, lead_id=lead.id, changes={
        "stage": [lead.stage, to], "reason": [None, reason], "effective_on": [None, on]})
    mail.queue_request(request)
    return request


def decide(user: User, request: MoveBackRequest, decision: str, note: str = "") -> MoveBackRequest:
    """The unit's head or an admin approves (the lead moves back, on the date asked for, with
    the officer's reason) or refuses (a note required)."""
    if not can(user, "move_back.decide", request):
        raise Forbidden(_l("仅镇街负责人和区招商局可审批退回申请"))
    lead = request.lead
    lead_services.lock(lead)
    db.session.refresh(request)
    if request.status != "pending":
        raise DomainError(_l("该申请已处理"))
    if decision not in DECISIONS:
        raise DomainError(_l("请选择同意或不同意"), {"decision": [_l("请选择同意或不同意")]})
    note = clean_text(note or "").strip()
    if len(note) > TEXT_MAX:
        raise DomainError(_l("说明不能超过 %(n)s 个字", n=TEXT_MAX),
                          {"note": [_l("说明不能超过 %(n)s 个字", n=TEXT_MAX)]})
    if decision == "refuse" and not has_visible(note):
        raise DomainError(_l("不同意时请填写说明"), {"note": [_l("不同意时请填写说明")]})
    if decision == "approve":
        if lead.stage != request.from_stage:
            raise DomainError(_l("项目阶段已变化，该申请不能再同意；请填写说明后不同意"))
        lead_services.move_stage(user, lead, request.to_stage, on=request.effective_on,
                                 reason=request.reason)
    request.status = "approved" if decision == "approve" else "refused"
    request.decided_by_id = user.id
    request.decided_at = utcnow()
    request.decision_note = note
    db.session.flush()
    audit.record(user, f"move_back.{request.status}", request, lead_id=lead.id, changes={
        "status": ["pending", request.status], "stage": [request.from_stage, request.to_stage],
        **({"note": [None, note]} if note else {})})
    mail.queue_decision(request)
    return request
