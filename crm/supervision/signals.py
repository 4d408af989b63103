"""Domain events of supervision and published bulletins, for whoever must tell people.

A receiver (mail, WeCom/DingTalk channels) connects with ``order_issued.connect(fn)``; each
signal is sent inside the transaction that made the change, after its rows are flushed, so a
receiver queues its messages as rows that commit (or roll back) with the change.

- ``order_issued``: sender the new ``SupervisionOrder`` (by hand or by the run, escalations too);
  keyword ``escalated_from`` (the overdue order, or None).
- ``order_overdue``: sender an open order past its due date that cannot escalate further (talk).
- ``bulletin_published``: sender the new ``BulletinIssue``.
"""

from blinker import Namespace

_signals = Namespace()
order_issued = _signals.signal("supervision-order-issued")
order_overdue = _signals.signal("supervision-order-overdue")
bulletin_published = _signals.signal("bulletin-published")
