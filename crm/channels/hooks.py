"""The group robots told of supervision orders and published bulletins.

Connected to the domain's signals (crm/supervision/signals.py) when the app is built; each
receiver queues its messages in the transaction that made the change, so they are sent once
that commits and never when it rolls back.
"""

from crm.channels import messages
from crm.supervision import signals
from crm.supervision.models import LEVEL_LABELS


def _order(order) -> dict:
    lead = order.lead
    return {
        "id": order.id, "township_id": order.township_id, "level": order.level,
        "level_label": str(LEVEL_LABELS.get(order.level, order.level)),
        "reason": order.reason, "lead_id": order.lead_id, "lead_name": lead.name if lead else "",
        "due_on": order.due_on,
        "officer_ids": [order.lead.primary_officer_id] if lead and lead.primary_officer_id else [],
    }


def order_issued(order, escalated_from=None, **_):
    messages.supervision_event(_order(order), "escalated" if escalated_from else "issued")


def order_overdue(order, **_):
    messages.supervision_event(_order(order), "overdue")


def bulletin_published(issue, **_):
    messages.bulletin_published(issue)


def connect() -> None:
    """Connect the receivers (once per process; blinker ignores a second connection)."""
    signals.order_issued.connect(order_issued)
    signals.order_overdue.connect(order_overdue)
    signals.bulletin_published.connect(bulletin_published)
