"""Mail for supervision orders at ``talk`` (约谈): each district leader (viewer) hears of it once.

The message is rendered and queued as a dispatch row in the transaction that issued the order,
so it goes out only if that commits (the automatic run delivers at once; an order issued by hand
goes with the scheduler's next retry run, within minutes).
"""

import sqlalchemy as sa

from crm.auth.models import VIEWER, User
from crm.extensions import db
from crm.reminders import mail
from crm.reminders.content import Digest
from crm.reminders.models import ReminderDispatch
from crm.supervision.models import SupervisionOrder

KIND = "supervision"


def period(order: SupervisionOrder) -> str:
    return f"o{order.id}"


def queue_talk_mail(order: SupervisionOrder) -> int:
    """Queue one mail per active viewer with an address; returns how many were queued."""
    viewers = db.session.scalars(
        sa.select(User).where(User.role == VIEWER, User.active, User.email != "")
        .order_by(User.id)).all()
    for user in viewers:
        digest = Digest(user, KIND, period(order), "supervision_talk", {"order": order})
        message = mail.render(digest)
        db.session.add(ReminderDispatch(
            user_id=user.id, kind=KIND, period=period(order), status="pending",
            subject=str(message["Subject"])[:200], message=message.as_string()))
    db.session.flush()
    return len(viewers)
