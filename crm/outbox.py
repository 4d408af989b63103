"""The rows of an outbox (reminder mail, group robot messages): taken, retried and written back.

Both outboxes keep one row per message with ``status`` (``pending`` until sent), ``attempts``,
``last_error`` and ``next_attempt_at`` (a lease while a process sends it, or the time of the next
try after a failure). Every write here is a transaction of its own, so a row's state survives
the process that sends it.
"""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db


class OutboxRow:
    """The columns every outbox row has (a mixin of the two dispatch models): its sending state,
    and when it was made and sent."""

    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    #: What went wrong the last time: the mail server's or the vendor's answer, or the network
    #: error ("" while no attempt has failed).
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    #: A lease while a process sends the row, or the time of the next try after a failure.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def failed(cls):
        """The rows whose last attempt failed and that wait for their next try (or a retry)."""
        return sa.and_(cls.status == "pending", cls.last_error != "")


def write(model, row_id: int, **values) -> None:
    """One UPDATE of one row, committed at once."""
    with db.engine.begin() as conn:
        conn.execute(sa.update(model).where(model.id == row_id).values(**values))


def lease(model, row_id: int, duration: dt.timedelta, force: bool = False) -> bool:
    """Take the row for sending for ``duration``: only one process wins the conditional update.
    ``force`` also takes a failed row whose next try is not due yet."""
    now = utcnow()
    ready = [model.next_attempt_at.is_(None), model.next_attempt_at <= now]
    if force:
        ready.append(model.last_error != "")
    with db.engine.begin() as conn:
        taken = conn.execute(
            sa.update(model)
            .where(model.id == row_id, model.status == "pending", sa.or_(*ready))
            .values(next_attempt_at=now + duration, attempts=model.attempts + 1, last_error="")
        ).rowcount
    return taken == 1


def lease_many(model, row_ids, duration: dt.timedelta, force_ids=frozenset(), *columns) -> list:
    """``lease`` for many rows in one conditional ``UPDATE … RETURNING``: the rows this process
    took (with ``columns``), by id; a row another process holds is not among them. ``force_ids``
    also takes those failed rows whose next try is not due yet."""
    if not row_ids:
        return []
    now = utcnow()
    ready = [model.next_attempt_at.is_(None), model.next_attempt_at <= now]
    forced = [i for i in row_ids if i in force_ids]
    if forced:
        ready.append(sa.and_(model.id.in_(forced), model.last_error != ""))
    with db.engine.begin() as conn:
        taken = conn.execute(
            sa.update(model)
            .where(model.id.in_(list(row_ids)), model.status == "pending", sa.or_(*ready))
            .values(next_attempt_at=now + duration, attempts=model.attempts + 1, last_error="")
            .returning(model.id, *columns)
        ).all()
    return sorted(taken, key=lambda row: row[0])


def mark_sent(model, row_id: int) -> None:
    write(model, row_id, status="sent", sent_at=utcnow(), last_error="", next_attempt_at=None)


def back_off(model, row_id: int, attempts: int, error: str, backoff) -> None:
    """Pending again with ``error``, the next try after a wait that grows with the attempts."""
    wait = backoff[min(max(attempts - 1, 0), len(backoff) - 1)]
    write(model, row_id, last_error=error[:2000] or "error", next_attempt_at=utcnow() + wait)


def make_due_and_commit(model, row_ids) -> None:
    """An admin's retry: the rows due now, never one another process is sending right now (a
    lease clears ``last_error``)."""
    db.session.execute(
        sa.update(model)
        .where(model.id.in_(list(row_ids)), model.status == "pending",
               sa.or_(model.last_error != "", model.next_attempt_at.is_(None),
                      model.next_attempt_at <= utcnow()))
        .values(next_attempt_at=None)
    )
    db.session.commit()
