"""Logging and editing visits; a visit's next follow-up becomes the lead's."""

import datetime as dt
import uuid

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from crm import audit
from crm.auth.models import User
from crm.auth.permissions import can
from crm.clock import today
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.inputs import has_visible
from crm.leads.models import Lead
from crm.leads.services import bump, lock
from crm.visits.models import KINDS, Visit

VISIT_FIELDS = ("visited_on", "kind", "summary", "next_step", "next_follow_up", "participants")


def _validate(data: dict) -> dict:
    errors: dict[str, list] = {}
    visited_on = data.get("visited_on") or today()
    if visited_on > today():
        errors["visited_on"] = [_l("走访日期不能晚于今天")]
    elif visited_on < dt.date(2000, 1, 1):
        errors["visited_on"] = [_l("日期不合理")]
    if data.get("kind") not in KINDS:
        errors["kind"] = [_l("请选择走访方式")]
    summary = (data.get("summary") or "").strip()
    if not has_visible(summary):
        errors["summary"] = [_l("请填写走访情况")]
    elif len(summary) > 5000:
        errors["summary"] = [_l("内容过长（最多5000字）")]
    follow_up = data.get("next_follow_up")
    if follow_up is not None and (follow_up < visited_on or follow_up > dt.date(2100, 12, 31)):
        errors["next_follow_up"] = [_l("下次跟进日期不能早于走访日期")]
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)
    return {
        "visited_on": visited_on,
        "kind": data["kind"],
        "summary": summary,
        "next_step": (data.get("next_step") or "").strip(),
        "next_follow_up": follow_up,
        "participants": (data.get("participants") or "").strip(),
    }


BAD_CLIENT_ID = _l("client_id 须为 UUID（如 3f2b8c1e-5d4a-4f6b-9c1d-2e7a8b9c0d1e）")


class ClientIdTaken(DomainError):
    """The ``client_id`` names a visit of another user or of another lead: refused without
    saying anything of that visit."""

    status = 409
    code = "client_id_taken"

    def __init__(self):
        message = _l("该 client_id 已被另一条走访使用，请换一个新的 UUID")
        super().__init__(message, {"client_id": [message]})


def client_id_of(value) -> str | None:
    """``value`` as a canonical UUID text (lower case, with hyphens); None for none; else a
    DomainError on the field ``client_id``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip()))
    except (ValueError, TypeError, AttributeError) as exc:
        raise DomainError(BAD_CLIENT_ID, {"client_id": [BAD_CLIENT_ID]}) from exc


def _earlier(user: User, lead: Lead, client_id: str) -> Visit | None:
    """The visit already logged with ``client_id`` (if it is this user's on this lead)."""
    visit = db.session.scalar(sa.select(Visit).where(Visit.client_id == client_id))
    if visit is not None and (visit.user_id != user.id or visit.lead_id != lead.id):
        raise ClientIdTaken()
    return visit


def log_visit(user: User, lead: Lead, data: dict) -> Visit:
    """Record a visit on ``lead``; it may set the lead's next follow-up."""
    return record_visit(user, lead, data)[0]


def record_visit(user: User, lead: Lead, data: dict) -> tuple[Visit, bool]:
    """Record a visit on ``lead`` (it may set the lead's next follow-up): the visit and whether
    it was created now.

    With ``data["client_id"]`` (a UUID made by the client) the call is idempotent: the visit
    logged earlier with it is returned (``False``) and nothing is written, even when two
    requests race (the unique index decides; the loser reads the winner's row). A client_id
    used by another user or on another lead is refused (``ClientIdTaken``).
    """
    if not can(user, "visit.log", lead):
        raise Forbidden(_l("您无权为该项目登记走访"))
    client_id = client_id_of(data.get("client_id"))
    lock(lead)  # PostgreSQL: a racing request for the same lead waits here, then sees the row
    if client_id is not None and (earlier := _earlier(user, lead, client_id)) is not None:
        return earlier, False
    values = _validate(data)
    visit = Visit(lead=lead, township_id=lead.township_id, user_id=user.id, client_id=client_id,
                  **values)
    try:
        with db.session.begin_nested():
            db.session.add(visit)
            db.session.flush()
    except IntegrityError:
        # Another transaction committed the same client_id after our look-up.
        if visit in db.session:
            db.session.expunge(visit)
        earlier = _earlier(user, lead, client_id) if client_id is not None else None
        if earlier is None:
            raise
        return earlier, False
    _apply_to_lead(lead, visit)
    db.session.flush()
    return visit, True


def _apply_to_lead(lead: Lead, visit: Visit) -> None:
    if lead.last_visit_on is None or visit.visited_on > lead.last_visit_on:
        lead.last_visit_on = visit.visited_on
    if visit.next_follow_up is not None:
        lead.next_follow_up = visit.next_follow_up
    bump(lead)


def edit_visit(user: User, visit: Visit, data: dict) -> Visit:
    """Own visit, the same day; the old values stay in the audit trail (the timeline)."""
    if not can(user, "visit.edit", visit):
        raise Forbidden(_l("只能在当天修改自己登记的走访"))
    values = _validate({f: data.get(f, getattr(visit, f)) for f in VISIT_FIELDS})
    changes = audit.apply_changes(visit, values)
    if changes:
        lead = visit.lead
        lock(lead)
        lead.last_visit_on = db.session.scalar(
            sa.select(sa.func.max(Visit.visited_on)).where(Visit.lead_id == lead.id)
        )
        if "next_follow_up" in changes and visit.next_follow_up is not None:
            lead.next_follow_up = visit.next_follow_up
        bump(lead)
        audit.record(user, "visit.edit", visit, lead_id=lead.id, changes=changes)
    db.session.flush()
    return visit
