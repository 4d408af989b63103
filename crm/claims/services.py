"""Claims made by the domain's own changes, evidence, and the bureau's review.

Like every service: validate, change, ``flush()`` and audit; never commit. Claims are opened by
the lead services (a stage entered, a 纳统 date set, a capital entry) and withdrawn when a move
back passes their milestone or the 纳统 date is cleared; their history stays.
"""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.models import User
from crm.auth.permissions import can
from crm.channels import outbox
from crm.claims.files import DEFAULT_MAX_BYTES, EvidenceRefused, inspect_upload
from crm.claims.models import (
    ATTACHMENT_KINDS,
    LIVE_STATUSES,
    REQUIRED_EVIDENCE,
    STAGE_CLAIMS,
    Attachment,
    Claim,
    ClaimEvidence,
    ClaimReview,
)
from crm.clock import today, utcnow
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.leads.models import FundEntry, Lead
from crm.leads.pipeline import STAGE_RANK
from crm.storage import get_storage
from crm.townships.models import Township

OPINION_MAX = 2000


# --- claims opened and withdrawn by the lead services ------------------------------------------

def _live(lead: Lead, kind: str) -> list[Claim]:
    return [c for c in lead.claims if c.kind == kind and c.status in LIVE_STATUSES]


def open_claim(user: User | None, lead: Lead, kind: str, effective_on: dt.date, *,
               amount_wan: Decimal | None = None, fund_entry: FundEntry | None = None) -> Claim:
    """A pending claim for a milestone of ``lead``, made by ``user``."""
    claim = Claim(lead=lead, township_id=lead.township_id, kind=kind, effective_on=effective_on,
                  amount_wan=amount_wan, fund_entry=fund_entry, status="pending",
                  submitted_by_id=getattr(user, "id", None), submitted_at=utcnow())
    db.session.add(claim)
    db.session.flush()
    audit.record(user, "claim.submit", claim, lead_id=lead.id, changes={
        "kind": [None, kind], "effective_on": [None, effective_on],
        **({"amount_wan": [None, amount_wan]} if amount_wan is not None else {})})
    return claim


def withdraw(user: User | None, claim: Claim, why: str) -> None:
    old = claim.status
    claim.status = "withdrawn"
    claim.decided_at = utcnow()
    audit.record(user, "claim.withdraw", claim, lead_id=claim.lead_id,
                 changes={"status": [old, "withdrawn"], "kind": [claim.kind, claim.kind],
                          "reason": [None, why]})


def stages_entered(user: User, lead: Lead, entered, to: str, on: dt.date) -> None:
    """After a stage move: one claim per milestone entered (implied entries too); a move back
    (or a reopening below a milestone) withdraws the claims of the milestones passed back."""
    for code in entered:
        if code in STAGE_CLAIMS and not _live(lead, code):
            open_claim(user, lead, code, on)
    if to in STAGE_RANK:
        for claim in list(lead.claims):
            if (claim.kind in STAGE_CLAIMS and claim.status in LIVE_STATUSES
                    and STAGE_RANK[claim.kind] > STAGE_RANK[to]):
                withdraw(user, claim, "stage_back")
    db.session.flush()


def stats_included_changed(user: User, lead: Lead, old: dt.date | None, new: dt.date | None):
    """纳统 set: a claim; cleared: its claim withdrawn; moved to another date: both."""
    if old == new:
        return
    for claim in _live(lead, "stats_included"):
        withdraw(user, claim, "stats_included_cleared" if new is None else "stats_included_changed")
    if new is not None:
        open_claim(user, lead, "stats_included", new)
    db.session.flush()


def funds_added(user: User, lead: Lead, entry: FundEntry) -> Claim:
    return open_claim(user, lead, "funds", entry.arrived_on, amount_wan=entry.amount_wan,
                      fund_entry=entry)


# --- evidence ------------------------------------------------------------------------------------

def max_attachment_bytes() -> int:
    return int(current_app.config.get("CRM_MAX_ATTACHMENT_BYTES") or DEFAULT_MAX_BYTES)


def upload_evidence(user: User, lead: Lead, data: bytes, filename: str, kind: str,
                    claim: Claim | None = None) -> Attachment:
    """Upload a file for ``lead`` and, when ``claim`` is given, make it that claim's evidence."""
    attachment = upload_attachment(user, lead, data, filename, kind)
    if claim is not None:
        add_evidence(user, claim, attachment)
    return attachment


def upload_attachment(user: User, lead: Lead, data: bytes, filename: str, kind: str) -> Attachment:
    """Check the file by its content, store it, and record it on ``lead``.

    The bytes are stored before the row is committed: storage is content-addressed, so a
    rolled-back upload leaves at most an unreferenced copy, never a row without its file.
    """
    if not can(user, "attachment.upload", lead):
        raise Forbidden(_l("您无权为该项目上传材料"))
    if kind not in ATTACHMENT_KINDS:
        raise DomainError(_l("请选择材料类型"), {"kind": [_l("请选择材料类型")]})
    try:
        info = inspect_upload(data or b"", filename or "", max_attachment_bytes())
    except EvidenceRefused as exc:
        raise DomainError(exc.message, {"file": [exc.message]}) from exc
    storage = get_storage()
    key = storage.put(data)
    thumbnail_key = storage.put(info.thumbnail) if info.thumbnail else None
    gps = info.gps or (None, None)
    attachment = Attachment(
        lead=lead, kind=kind, filename=info.filename, content_type=info.content_type,
        size=info.size, sha256=info.sha256, storage_key=key, width=info.width, height=info.height,
        taken_at=info.taken_at, gps_lat=gps[0], gps_lon=gps[1], thumbnail_key=thumbnail_key,
        uploaded_by_id=user.id, uploaded_at=utcnow(),
    )
    db.session.add(attachment)
    db.session.flush()
    audit.record(user, "attachment.upload", attachment, lead_id=lead.id, changes={
        "kind": [None, kind], "filename": [None, info.filename], "sha256": [None, info.sha256]})
    return attachment


def add_evidence(user: User, claim: Claim, attachment: Attachment) -> Claim:
    """Attach one of the lead's files to a pending or returned claim."""
    if not can(user, "claim.submit", claim):
        raise Forbidden(_l("您无权为该申报补充材料"))
    if claim.status not in ("pending", "returned"):
        raise Conflict(_l("该申报已%(s)s，不能再补充材料", s=claim.status_label))
    if attachment.lead_id != claim.lead_id:
        message = _l("只能使用本项目的材料")
        raise DomainError(message, {"attachment_id": [message]})
    if any(a.id == attachment.id for a in claim.evidence):
        return claim
    claim.evidence_links.append(ClaimEvidence(attachment=attachment, added_at=utcnow()))
    db.session.flush()
    audit.record(user, "claim.evidence", claim, lead_id=claim.lead_id, changes={
        "kind": [claim.kind, claim.kind], "attachment": [None, attachment.filename]})
    return claim


def missing_evidence(claim: Claim) -> tuple[str, ...]:
    """The evidence kinds of which one is still needed to verify (empty when satisfied)."""
    required = REQUIRED_EVIDENCE[claim.kind]
    if any(a.kind in required for a in claim.evidence):
        return ()
    return required


# --- review -------------------------------------------------------------------------------------

def review(user: User, claim: Claim, decision: str, opinion: str = "") -> ClaimReview:
    """通过 (verify) or 退回 (return, with an opinion); only while pending."""
    if not can(user, "claim.review", claim):
        if can(user, "claims.queue"):  # a reviewer, held back by the four-eyes rule
            raise Forbidden(_l("不能核验自己申报或自己上传材料的申报（四眼原则）"))
        raise Forbidden(_l("您无权核验申报"))
    if claim.status != "pending":
        raise Conflict(_l("该申报当前为“%(s)s”，不能核验", s=claim.status_label))
    opinion = (opinion or "").strip()
    if decision not in ("verify", "return"):
        raise DomainError(_l("请选择通过或退回"), {"decision": [_l("请选择通过或退回")]})
    if len(opinion) > OPINION_MAX:
        raise DomainError(_l("意见过长"), {"opinion": [_l("意见过长")]})
    if decision == "return" and not opinion:
        message = _l("退回须填写意见")
        raise DomainError(message, {"opinion": [message]})
    if decision == "verify":
        from crm.claims.models import ATTACHMENT_KIND_LABELS

        needed = missing_evidence(claim)
        if needed:
            message = _l("缺少必需的佐证材料：%(k)s",
                         k="、".join(str(ATTACHMENT_KIND_LABELS[k]) for k in needed))
            raise DomainError(message, {"evidence": [message]})
    old = claim.status
    claim.status = "verified" if decision == "verify" else "returned"
    claim.decided_at = utcnow()
    claim.verified_on = today() if decision == "verify" else None
    entry = ClaimReview(claim=claim, decision=decision, opinion=opinion, by_id=user.id,
                        at=claim.decided_at)
    db.session.add(entry)
    db.session.flush()
    audit.record(user, "claim.review", claim, lead_id=claim.lead_id, changes={
        "status": [old, claim.status], "kind": [claim.kind, claim.kind],
        **({"opinion": [None, opinion]} if opinion else {})})
    outbox.claim_reviewed(claim, entry)  # the unit's group robots, once this commits
    return entry


def resubmit(user: User, claim: Claim) -> Claim:
    """A returned claim, with more evidence, pending again."""
    if not can(user, "claim.submit", claim):
        raise Forbidden(_l("您无权重新提交该申报"))
    if claim.status != "returned":
        raise Conflict(_l("只有已退回的申报可以重新提交"))
    claim.status = "pending"
    claim.submitted_at = utcnow()  # the queue's age counts from the resubmission
    claim.decided_at = None
    db.session.flush()
    audit.record(user, "claim.resubmit", claim, lead_id=claim.lead_id,
                 changes={"status": ["returned", "pending"], "kind": [claim.kind, claim.kind]})
    return claim


def reused_on(attachments) -> dict[int, list[dict]]:
    """For each attachment: the other leads holding the same file, with their unit's name."""
    attachments = list(attachments)
    hashes = {a.sha256 for a in attachments}
    if not hashes:
        return {}
    rows = db.session.execute(
        sa.select(Attachment.sha256, Lead.id, Township.name)
        .join(Lead, Lead.id == Attachment.lead_id).join(Township, Township.id == Lead.township_id)
        .where(Attachment.sha256.in_(hashes)).distinct().order_by(Lead.id)
    ).all()
    out = {}
    for a in attachments:
        out[a.id] = [{"lead_id": lead_id, "township_name": name}
                     for sha, lead_id, name in rows if sha == a.sha256 and lead_id != a.lead_id]
    return out
