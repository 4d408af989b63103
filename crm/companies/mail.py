"""The ruling's mail to both units' heads: queued with the ruling, sent once after the commit.

Each head gets one row of the reminder dispatch log (kind ``dispute``, period ``D<id>``): its
unique key makes the mail go out once however often it is retried, a mail server that is down
delays it (the scheduler's retry job), and a ruling rolled back takes its rows with it. Each
head reads their own lead and only the other unit's name.
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
from crm.townships.models import Township

KIND = "dispute"


def period(dispute) -> str:
    return f"D{dispute.id}"


def _heads(township_id: int) -> list[User]:
    users = db.session.scalars(sa.select(User).where(
        User.active, User.email != "", User.township_id == township_id,
        User.role == TOWNSHIP_HEAD).order_by(User.id)).all()
    return [u for u in users if can(u, "dispute.ruling_mail", township_id)]


def queue_ruling(dispute) -> list[int]:
    """A pending dispatch row per head of either unit (a head of both gets one); the ids."""
    base = current_app.config["CRM_BASE_URL"].rstrip("/")
    first, second = dispute.first_lead, dispute.second_lead
    ids, seen = [], set()
    for own, other in ((first, second), (second, first)):
        other_unit = db.session.get(Township, other.township_id).name
        for head in _heads(own.township_id):
            if head.id in seen:
                continue
            seen.add(head.id)
            digest = Digest(head, KIND, period(dispute), "dispute_ruling", {
                "dispute": dispute, "lead": own, "other_unit": other_unit,
                "kept": own.ownership != "merged",
                "lead_url": f"{base}/leads/{own.id}"})
            message = reminder_mail.render(digest)
            row = ReminderDispatch(user_id=head.id, kind=KIND, period=period(dispute),
                                   status="pending", subject=str(message["Subject"])[:200],
                                   message=message.as_string())
            db.session.add(row)
            db.session.flush()
            ids.append(row.id)
    return ids


def send_now(dispute) -> None:
    """Send the ruling's mail now (after the commit); what fails stays for the retry job."""
    ids = db.session.scalars(sa.select(ReminderDispatch.id).where(
        ReminderDispatch.kind == KIND, ReminderDispatch.period == period(dispute))).all()
    if ids:
        dispatch.deliver(dispatch.RunResult(), only_ids=list(ids))
