"""What a user sees of 申请退回: through the leads they may see."""

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload

from crm.auth.permissions import can, scope_leads
from crm.extensions import db
from crm.leads.models import Lead
from crm.moveback.models import MoveBackRequest

_LOAD = (joinedload(MoveBackRequest.lead), joinedload(MoveBackRequest.requested_by),
         joinedload(MoveBackRequest.decided_by))


def _visible(user) -> sa.Select:
    return scope_leads(sa.select(MoveBackRequest).join(Lead, Lead.id == MoveBackRequest.lead_id),
                       user)


def get_request_or_404(request_id: int, user) -> MoveBackRequest:
    """A request on a lead the user may see, else 404 (another unit's does not exist for them)."""
    found = db.session.scalar(_visible(user).where(MoveBackRequest.id == request_id))
    if found is None:
        abort(404)
    return found


def to_decide(user, limit: int = 50) -> list[MoveBackRequest]:
    """Pending requests ``user`` may decide, oldest first (a head's unit; an admin's all)."""
    rows = db.session.scalars(_visible(user).where(MoveBackRequest.status == "pending")
                              .options(*_LOAD).order_by(MoveBackRequest.id).limit(limit)).all()
    return [r for r in rows if can(user, "move_back.decide", r)]


def asked_by(user, limit: int = 20) -> list[MoveBackRequest]:
    """The user's own requests: pending ones, then the latest decided."""
    return list(db.session.scalars(
        _visible(user).where(MoveBackRequest.requested_by_id == user.id).options(*_LOAD)
        .order_by((MoveBackRequest.status == "pending").desc(), MoveBackRequest.id.desc())
        .limit(limit)))


def of_lead(lead) -> list[MoveBackRequest]:
    """A lead's requests, newest first."""
    return list(db.session.scalars(
        sa.select(MoveBackRequest).where(MoveBackRequest.lead_id == lead.id)
        .options(joinedload(MoveBackRequest.requested_by), joinedload(MoveBackRequest.decided_by))
        .order_by(MoveBackRequest.id.desc())))


def decided(user, limit: int = 30) -> list[MoveBackRequest]:
    """The latest decided requests on the leads the user sees."""
    return list(db.session.scalars(
        _visible(user).where(MoveBackRequest.status != "pending").options(*_LOAD)
        .order_by(MoveBackRequest.decided_at.desc(), MoveBackRequest.id.desc()).limit(limit)))
