"""Sending each channel message exactly once: claim a row, commit, send, mark sent.

The mail dispatcher's design (crm/reminders/dispatch.py) for robots: a row per (channel, kind,
ref) is unique, so whoever inserts it owns the message; a lease (a conditional UPDATE of
``next_attempt_at``) lets one process send it; a failure keeps it pending with the vendor's
answer and retries it with back-off. On top of that, a robot takes at most ``PER_MINUTE``
requests a minute: each request takes a slot in ``channel_sends`` while its channel's row is
locked, so every process and server counts together.

These functions commit as they go (the scheduler and the `crm channels` commands), except
``retry_now_and_commit``, which an admin's request calls and which says so.
"""

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crm import outbox
from crm.channels import crypto, vendors
from crm.channels.models import Channel, ChannelDispatch, ChannelSend
from crm.clock import utcnow
from crm.extensions import db

LEASE = dt.timedelta(minutes=5)
BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=15),
           dt.timedelta(hours=1), dt.timedelta(hours=3))
PER_MINUTE = 20
WINDOW = dt.timedelta(minutes=1)
SENDS_KEPT = dt.timedelta(hours=1)


@dataclass
class Message:
    """One message for one channel, before it is claimed."""

    channel_id: int
    kind: str
    ref: str
    title: str
    body: str
    mentions: list[str] = field(default_factory=list)
    link: str = ""

    def row(self) -> dict:
        return {"channel_id": self.channel_id, "kind": self.kind, "ref": self.ref[:64],
                "status": "pending", "attempts": 0, "last_error": "", "title": self.title[:200],
                "body": self.body, "mentions": ",".join(self.mentions), "link": self.link[:500],
                "created_at": utcnow()}


@dataclass
class RunResult:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    waiting: int = 0  # held back by the per-minute limit
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"claimed {self.claimed}, sent {self.sent}, skipped {self.skipped}, "
                f"failed {self.failed}, waiting {self.waiting}")


# --- claiming ----------------------------------------------------------------------------------

def enqueue(messages) -> int:
    """Add the messages not claimed before to the current session (a request's or a job's unit
    of work): they go out only if it commits. Each insert in a savepoint, so a message claimed
    meanwhile by another transaction is skipped, not an error. Returns how many were added."""
    added = 0
    for message in messages:
        exists = db.session.scalar(sa.select(ChannelDispatch.id).where(
            ChannelDispatch.channel_id == message.channel_id, ChannelDispatch.kind == message.kind,
            ChannelDispatch.ref == message.ref[:64]))
        if exists:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(ChannelDispatch(**message.row()))
        except IntegrityError:
            continue
        added += 1
    return added


def claim_and_commit(messages, result: RunResult) -> None:
    """Insert a pending row for each message not claimed before, each in a transaction of its
    own on its own connection (as the mail dispatcher does): of two processes, one wins."""
    db.session.commit()
    for message in messages:
        try:
            with db.engine.begin() as conn:
                conn.execute(sa.insert(ChannelDispatch).values(**message.row()))
        except IntegrityError:
            result.skipped += 1
            continue
        result.claimed += 1


# --- delivering --------------------------------------------------------------------------------

def deliver(result: RunResult, only_ids=None, force_ids=frozenset()) -> None:
    """Send every pending row that is due (or forced), each under a lease."""
    db.session.commit()
    now = utcnow()
    due = sa.select(ChannelDispatch.id).join(Channel, Channel.id == ChannelDispatch.channel_id).where(
        ChannelDispatch.status == "pending", Channel.enabled.is_(True),
        sa.or_(ChannelDispatch.next_attempt_at.is_(None), ChannelDispatch.next_attempt_at <= now,
               ChannelDispatch.id.in_(list(force_ids))),
    ).order_by(ChannelDispatch.id)
    if only_ids is not None:
        due = due.where(ChannelDispatch.id.in_(list(only_ids)))
    with db.engine.begin() as conn:
        ids = list(conn.scalars(due))
    for dispatch_id in ids:
        if outbox.lease(ChannelDispatch, dispatch_id, LEASE, dispatch_id in force_ids):
            _send_leased(dispatch_id, result)


def _send_leased(dispatch_id: int, result: RunResult) -> None:
    with db.engine.begin() as conn:
        row = conn.execute(sa.select(ChannelDispatch).where(ChannelDispatch.id == dispatch_id)).one()
        channel = conn.execute(sa.select(Channel).where(Channel.id == row.channel_id)).one()
    wait = take_slot(channel.id)
    if wait is not None:
        # Not an attempt: back to pending, due once a slot frees, without an error.
        outbox.write(ChannelDispatch, dispatch_id, attempts=row.attempts - 1,
                     next_attempt_at=utcnow() + wait)
        result.waiting += 1
        return
    try:
        send_to(channel, row.title, row.body, [m for m in row.mentions.split(",") if m], row.link)
    except (vendors.DeliveryError, crypto.SecretUnreadable) as exc:
        _mark_failed(dispatch_id, channel.name, error_text(exc), result)
    else:
        outbox.mark_sent(ChannelDispatch, dispatch_id)
        result.sent += 1


def error_text(exc: Exception) -> str:
    if isinstance(exc, crypto.SecretUnreadable):
        return "the stored webhook cannot be read (CRM_SECRET_KEY changed): enter it again"
    return str(exc)


def send_to(channel, title: str, body: str, mentions: list[str], link: str = "") -> vendors.Answer:
    """One request to ``channel``'s robot (signed, with its keyword); DeliveryError on failure.
    ``channel`` is a Channel or a row of its columns; the caller has taken the slot."""
    url = vendors.signed_url(crypto.unseal(channel.url_secret), crypto.unseal(channel.signing_secret))
    data = vendors.payload(channel.kind, title, body, mentions, link, channel.keyword)
    return vendors.post(url, data)


def take_slot(channel_id: int) -> dt.timedelta | None:
    """Take one of the robot's per-minute slots: None when taken, else how long to wait.

    The channel's row is locked first (an UPDATE), so two processes count one after the other.
    """
    with db.engine.begin() as conn:
        conn.execute(sa.update(Channel).where(Channel.id == channel_id)
                     .values(sends_total=Channel.sends_total + 1))
        now = utcnow()
        recent = list(conn.scalars(
            sa.select(ChannelSend.at).where(ChannelSend.channel_id == channel_id,
                                            ChannelSend.at > now - WINDOW)
            .order_by(ChannelSend.at)))
        if len(recent) >= PER_MINUTE:
            conn.execute(sa.update(Channel).where(Channel.id == channel_id)
                         .values(sends_total=Channel.sends_total - 1))
            return recent[len(recent) - PER_MINUTE] + WINDOW - now + dt.timedelta(seconds=1)
        conn.execute(sa.insert(ChannelSend).values(channel_id=channel_id, at=now))
    return None


def prune_sends() -> int:
    with db.engine.begin() as conn:
        return conn.execute(sa.delete(ChannelSend).where(ChannelSend.at < utcnow() - SENDS_KEPT)).rowcount


def _mark_failed(dispatch_id: int, channel_name: str, error: str, result: RunResult) -> None:
    with db.engine.begin() as conn:
        attempts = conn.scalar(sa.select(ChannelDispatch.attempts)
                               .where(ChannelDispatch.id == dispatch_id))
    outbox.back_off(ChannelDispatch, dispatch_id, attempts, error, BACKOFF)
    result.failed += 1
    result.errors.append(f"{channel_name}: {error}")


def run_and_commit(messages) -> RunResult:
    """Claim ``messages`` and send them now, then whatever else is due."""
    result = RunResult()
    claim_and_commit(messages, result)
    own = set()
    if messages:
        with db.engine.begin() as conn:
            own = set(conn.scalars(sa.select(ChannelDispatch.id).where(
                ChannelDispatch.status == "pending",
                sa.tuple_(ChannelDispatch.channel_id, ChannelDispatch.kind, ChannelDispatch.ref)
                .in_([(m.channel_id, m.kind, m.ref[:64]) for m in messages]))))
    deliver(result, force_ids=own)
    return result


def retry_now_and_commit(dispatch_ids) -> RunResult:
    """An admin's "retry": make the rows due now and send them."""
    outbox.make_due_and_commit(ChannelDispatch, dispatch_ids)
    result = RunResult()
    deliver(result, only_ids=list(dispatch_ids))
    return result
