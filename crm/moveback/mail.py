"""申请退回's mail: the request to the unit's heads, the decision to the officer who asked.

Each is a row of the reminder dispatch log (kind ``move_back``; period ``B<id>`` for the
request, ``B<id>-d`` for the decision), queued in the step's transaction and sent after its
commit (``send_now``); what fails is sent by the scheduler's retry job, once.
"""

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import TOWNSHIP_HEAD, User
from crm.auth.permissions import can
from crm.extensions import db
from crm.reminders import dispatch
from crm.reminders import mail as reminder_mail
from crm.reminders.content import Digest
from crm.reminders.models import ReminderDispatch

KIND = "move_back"


def _period(request, decided: bool) -> str:
    return f"B{request.id}-d" if decided else f"B{request.id}"


def _queue(user: User, request, period: str, template: str) -> None:
    base = current_app.config["CRM_BASE_URL"].rstrip("/")
    digest = Digest(user, KIND, period, template, {
        "move_request": request, "lead": request.lead,
        "lead_url": f"{base}/leads/{request.lead_id}", "work_url": f"{base}/my"})
    message = reminder_mail.render(digest)
    db.session.add(ReminderDispatch(user_id=user.id, kind=KIND, period=period, status="pending",
                                    subject=str(message["Subject"])[:200],
                                    message=message.as_string()))


def queue_request(request) -> None:
    """A pending row for each head of the lead's unit."""
    heads = db.session.scalars(sa.select(User).where(
        User.active, User.email != "", User.township_id == request.lead.township_id,
        User.role == TOWNSHIP_HEAD).order_by(User.id)).all()
    for head in heads:
        if can(head, "move_back.mail", request.lead.township_id):
            _queue(head, request, _period(request, False), "move_back_request")
    db.session.flush()


def queue_decision(request) -> None:
    """A pending row for the officer who asked."""
    officer = request.requested_by
    if officer is not None and officer.active and officer.email:
        _queue(officer, request, _period(request, True), "move_back_decision")
    db.session.flush()


def send_now(request) -> None:
    """Send this request's mail now (after the commit); what fails stays for the retry job."""
    ids = db.session.scalars(sa.select(ReminderDispatch.id).where(
        ReminderDispatch.kind == KIND, ReminderDispatch.status == "pending",
        ReminderDispatch.period.in_([_period(request, False), _period(request, True)]))).all()
    if ids:
        dispatch.deliver(dispatch.RunResult(), only_ids=list(ids))
