"""Sending each reminder exactly once: claim a row, commit, send, mark sent.

A dispatch row is unique per (user, kind, period): whoever inserts it first owns that reminder,
so two schedulers (or a scheduler and `crm reminders send`) never both claim it. The message is
rendered and stored with the claim; it goes out only after that transaction commits. Sending
takes a lease (a conditional UPDATE of ``next_attempt_at``), so two processes never send the
same row at once; a failed send stays pending with its error and is retried with back-off.

These functions commit as they go (they run outside requests, in `crm reminders` and the
scheduler), except ``retry_now_and_commit``, which an admin's request calls and which says so.
"""

import datetime as dt
from contextlib import ExitStack
from dataclasses import dataclass, field

import sqlalchemy as sa

from crm import outbox
from crm.auth.models import User
from crm.clock import utcnow
from crm.extensions import db
from crm.reminders import content, mail
from crm.reminders.models import ReminderDispatch
from crm.reminders.workdays import is_workday
from crm.stats.sql import upsert

LEASE = dt.timedelta(minutes=10)
BACKOFF = (dt.timedelta(minutes=5), dt.timedelta(minutes=15), dt.timedelta(hours=1),
           dt.timedelta(hours=3))


@dataclass
class RunResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    not_workday: bool = False
    errors: list[str] = field(default_factory=list)
    planned: list = field(default_factory=list)

    def summary(self) -> str:
        text = f"sent {self.sent}, skipped {self.skipped}, failed {self.failed}"
        return text + (" (not a workday)" if self.not_workday else "")


def digests_for(kind: str, as_of: dt.date):
    if kind == "daily":
        return content.daily_digests(as_of)
    if kind == "review":
        return content.review_digests(as_of)
    return content.weekly_digests(as_of)


def run(kind: str, as_of: dt.date, *, dry_run: bool = False) -> RunResult:
    """Decide who gets the ``kind`` reminder as of ``as_of``, claim and send; then retry what
    is still pending from earlier runs."""
    result = RunResult()
    if kind in ("daily", "review") and not is_workday(as_of):
        result.not_workday = True
        return result
    digests = digests_for(kind, as_of)
    if dry_run:
        result.planned = digests
        db.session.rollback()
        return result
    claimed = claim(digests, result)
    db.session.commit()
    # This run's own reminders go now even if an earlier failure set them to wait (back-off):
    # whoever runs it by hand after mending the mail server wants them out.
    own = db.session.scalars(sa.select(ReminderDispatch.id).where(
        ReminderDispatch.kind == kind, ReminderDispatch.status == "pending",
        ReminderDispatch.period.in_({d.period for d in digests}))).all()
    deliver(result, force_ids=set(own))
    result.skipped += len(digests) - claimed
    return result


#: Rows claimed by one INSERT, and rows leased (and sent) per UPDATE … RETURNING.
BATCH = 200


def claim(digests, result: RunResult) -> int:
    """Insert a pending row with the rendered message for each digest not claimed before.

    Reads (and rendering) happen first and end with a commit; the rows are then inserted a
    batch at a time, each batch one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` in a
    transaction of its own (so on SQLite no transaction ever upgrades from reading to writing,
    which another process's commit would make fail instead of wait). The unique key decides:
    a row another process inserted first is not inserted again, and not returned, so it is
    not counted as ours.
    """
    keys = [(d.user.id, d.kind, d.period) for d in digests]
    existing = set()
    if keys:
        existing = set(db.session.execute(
            sa.select(ReminderDispatch.user_id, ReminderDispatch.kind, ReminderDispatch.period)
            .where(sa.tuple_(ReminderDispatch.user_id, ReminderDispatch.kind,
                             ReminderDispatch.period).in_(keys))
        ).all())
    renderer = mail.Renderer()
    rows = []
    for digest, key in zip(digests, keys, strict=True):
        if key in existing:
            continue
        message = renderer.render(digest)
        rows.append({"user_id": key[0], "kind": key[1], "period": key[2], "status": "pending",
                     "subject": str(message["Subject"])[:200], "message": message.as_string()})
    db.session.commit()
    claimed = 0
    table = ReminderDispatch.__table__
    now = utcnow()
    for start in range(0, len(rows), BATCH):  # on connections of their own, as in ``deliver``
        batch = [dict(row, attempts=0, last_error="", created_at=now)
                 for row in rows[start:start + BATCH]]
        with db.engine.begin() as conn:
            stmt = upsert(conn, table).values(batch).on_conflict_do_nothing(
                index_elements=[table.c.user_id, table.c.kind, table.c.period])
            claimed += len(conn.execute(stmt.returning(table.c.id)).all())
    return claimed


def deliver(result: RunResult, only_ids=None, force_ids=frozenset()) -> None:
    """Send every pending row that is due (or forced), each under a lease, over one connection.

    ``force_ids`` are sent even while waiting out a back-off, but never while another process
    holds them (a lease clears ``last_error``; only failed rows carry one).

    Each step is a short transaction on a connection of its own, outside the session: a run
    composed its messages from tens of thousands of leads, and every session commit would
    expire them all again (at province scale that made 1,000 mails take minutes). Rows are
    leased a batch at a time (one ``UPDATE … RETURNING`` gives this process the rows it won,
    with their messages); each is marked sent as soon as the server took it.
    """
    db.session.commit()
    now = utcnow()
    due = sa.select(ReminderDispatch.id).where(
        ReminderDispatch.status == "pending",
        sa.or_(ReminderDispatch.next_attempt_at.is_(None), ReminderDispatch.next_attempt_at <= now,
               ReminderDispatch.id.in_(list(force_ids))),
    ).order_by(ReminderDispatch.id)
    if only_ids is not None:
        due = due.where(ReminderDispatch.id.in_(only_ids))
    with db.engine.begin() as conn:
        ids = list(conn.scalars(due))
    if not ids:
        return
    with ExitStack() as stack:
        try:
            connection = stack.enter_context(mail.sender())
        except mail.MailError as exc:
            for dispatch_id in ids:
                if outbox.lease(ReminderDispatch, dispatch_id, LEASE, True):
                    _mark_failed(dispatch_id, str(exc), result)
            return
        for start in range(0, len(ids), BATCH):
            taken = outbox.lease_many(
                ReminderDispatch, ids[start:start + BATCH], LEASE, force_ids,
                ReminderDispatch.message, ReminderDispatch.kind, ReminderDispatch.period,
                ReminderDispatch.user_id)
            for dispatch_id, raw, kind, period, user_id in taken:
                try:
                    connection.send(raw, f"{kind}-{period}-{user_id}-{dispatch_id}")
                except mail.MailError as exc:
                    _mark_failed(dispatch_id, str(exc), result)
                else:
                    outbox.mark_sent(ReminderDispatch, dispatch_id)
                    result.sent += 1


def _mark_failed(dispatch_id: int, error: str, result: RunResult) -> None:
    """Pending again, with the error, after a back-off that grows with the attempts."""
    with db.engine.begin() as conn:
        attempts, username = conn.execute(
            sa.select(ReminderDispatch.attempts, User.username)
            .join(User, User.id == ReminderDispatch.user_id)
            .where(ReminderDispatch.id == dispatch_id)
        ).one()
    outbox.back_off(ReminderDispatch, dispatch_id, attempts, error, BACKOFF)
    result.failed += 1
    result.errors.append(f"{username}: {error}")


def retry_now_and_commit(dispatch_ids) -> RunResult:
    """An admin's "retry": make the rows due now and send them."""
    outbox.make_due_and_commit(ReminderDispatch, dispatch_ids)
    result = RunResult()
    deliver(result, only_ids=list(dispatch_ids))
    return result
