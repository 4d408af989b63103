"""Failed sign-in limits, counted in SQL over the sign-in log so that every worker shares them.

The rule (settings in brackets, defaults after them):

- per account: at most CRM_LOGIN_MAX_FAILURES_ACCOUNT (10) failed sign-ins for one username in
  CRM_LOGIN_WINDOW_MINUTES (15). Failures before the account's last successful sign-in do not
  count: the owner who signs in clears the count for their account.
- per address: at most CRM_LOGIN_MAX_FAILURES_ADDRESS (30) failed sign-ins from one client address
  in the same window, whatever the usernames; a success does not clear these (a guesser who owns
  one account would otherwise reset the count at will).
- a failure is a wrong password, an unknown username or a disabled account. Refused attempts
  (``throttled``) do not count, so the limit lifts when the oldest counted failure leaves the
  window, even while someone keeps trying.
- while a limit is reached, every attempt is refused, with the right password too, and the
  password is not hashed at all: a flood of refused guesses costs the server two short queries
  each, not a scrypt hash. A refusal reveals nothing a hash would hide: it depends only on the
  counts (the same for a known and an unknown username), and the answer says it is a refusal.
- usernames are keyed as crm/auth/names.py compares them (NFKC, case-folded, invisible
  characters dropped): ``Admin`` and ``admin\u200b`` count for ``admin``.

Each attempt is logged as ``pending`` and committed before the counting, and pending rows count
as failures: two workers checking the same account at once each see the other's attempt, so
concurrent guesses cannot get past the limit (at the edge both may be refused instead).

No transaction is open while a password is hashed: the count and the account are read in one
short transaction, which ends; the hash runs; the outcome is written in another. (A write request
on SQLite begins IMMEDIATE, holding the district's write lock: a hash inside it made every other
writer wait behind each sign-in.)
"""

import datetime as dt
import math
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from crm.auth import names, services
from crm.auth.models import LOGIN_FAILURES, LoginAttempt, User
from crm.clock import utcnow
from crm.extensions import db

#: Passwords hashed at once in this process (CRM_LOGIN_HASH_SLOTS, default 2). A hash is CPU
#: work: a flood of sign-ins that all hashed would take every server thread and the CPU, and a
#: colleague's visit would wait behind them. An attempt waits up to ``HASH_WAIT`` for a slot (so
#: a few colleagues signing in at the same moment are all let in); one that still finds none is
#: refused (scope ``busy``, retry in a few seconds) without a hash; it is logged as ``throttled``
#: and does not count as a failure.
_hash_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()
BUSY_RETRY = dt.timedelta(seconds=5)
#: Seconds an attempt waits for a free hashing slot (waiting costs no CPU).
HASH_WAIT = 3


def _slots() -> threading.BoundedSemaphore:
    size = max(1, int(current_app.config.get("CRM_LOGIN_HASH_SLOTS", 2)))
    with _slots_lock:
        return _hash_slots.setdefault(size, threading.BoundedSemaphore(size))


@dataclass(frozen=True)
class Refusal:
    """A limit is reached: ``scope`` is ``account``, ``address`` or ``busy`` (too many sign-ins
    being checked at once); retry from ``retry_at``."""

    scope: str
    retry_at: dt.datetime

    def seconds_left(self, now: dt.datetime | None = None) -> int:
        return max(1, math.ceil((self.retry_at - (now or utcnow())).total_seconds()))

    def minutes_left(self, now: dt.datetime | None = None) -> int:
        return max(1, math.ceil(self.seconds_left(now) / 60))


@dataclass(frozen=True)
class SignIn:
    """What one attempt came to. ``user`` is set only for ``success``."""

    outcome: str
    user: User | None = None
    refusal: Refusal | None = None
    #: Failures the account may still have before it is paused (None: not a failure).
    failures_left: int | None = None


def limits() -> tuple[int, int, dt.timedelta]:
    config = current_app.config
    return (
        int(config["CRM_LOGIN_MAX_FAILURES_ACCOUNT"]),
        int(config["CRM_LOGIN_MAX_FAILURES_ADDRESS"]),
        dt.timedelta(minutes=int(config["CRM_LOGIN_WINDOW_MINUTES"])),
    )


def normalise_username(raw: str | None) -> str:
    """The throttle's key: the typed name as usernames compare (``Admin`` counts for ``admin``)."""
    return names.username_key(raw)


def _account_failures(username: str, since: dt.datetime, exclude_id: int) -> sa.Select:
    last_success = (
        sa.select(sa.func.max(LoginAttempt.id))
        .where(LoginAttempt.username == username, LoginAttempt.at > since,
               LoginAttempt.outcome == "success", LoginAttempt.id != exclude_id)
        .scalar_subquery()
    )
    return sa.select(LoginAttempt.at).where(
        LoginAttempt.username == username,
        LoginAttempt.at > since,
        LoginAttempt.outcome.in_(LOGIN_FAILURES),
        LoginAttempt.id != exclude_id,
        LoginAttempt.id > sa.func.coalesce(last_success, 0),
    )


def _address_failures(address: str, since: dt.datetime, exclude_id: int) -> sa.Select:
    return sa.select(LoginAttempt.at).where(
        LoginAttempt.address == address,
        LoginAttempt.at > since,
        LoginAttempt.outcome.in_(LOGIN_FAILURES),
        LoginAttempt.id != exclude_id,
    )


def check(username: str, address: str, now: dt.datetime, exclude_id: int = 0) -> tuple[Refusal | None, int]:
    """The refusal that applies now (or None) and the account's failures counted so far.

    Each limit reads the newest ``limit`` failures in one statement: with as many, the limit holds
    until the oldest of them leaves the window.
    """
    max_account, max_address, window = limits()
    since = now - window
    scopes = [("account", _account_failures(username, since, exclude_id), max_account)]
    if address:
        scopes.append(("address", _address_failures(address, since, exclude_id), max_address))
    refusals, account_failures = [], 0
    for scope, stmt, limit in scopes:
        times = db.session.scalars(stmt.order_by(LoginAttempt.at.desc()).limit(limit)).all()
        if scope == "account":
            account_failures = len(times)
        if len(times) >= limit:
            refusals.append(Refusal(scope, times[limit - 1] + window))
    refusal = max(refusals, key=lambda r: r.retry_at) if refusals else None
    return refusal, account_failures


def sign_in_and_commit(username: str, password: str, address: str = "", user_agent: str = "") -> SignIn:
    """Check one sign-in against the limits and the credentials, and log it.

    This commits, unlike other services: the pending row must be visible to the other workers
    before this one counts, and the outcome must stay logged whatever the request does next.
    """
    max_account = limits()[0]
    key, address = normalise_username(username), (address or "")[:45]
    now = utcnow()
    attempt = LoginAttempt(at=now, username=key, address=address,
                           user_agent=(user_agent or "")[:255], outcome="pending")
    db.session.add(attempt)
    db.session.flush()
    attempt_id = attempt.id
    db.session.commit()

    refusal, account_failures = check(key, address, now, exclude_id=attempt_id)
    account = services.find_account(username)  # for the log; one indexed query either way
    db.session.commit()  # ends the reading transaction: nothing is held while the hash runs

    account_id = account.id if account is not None else None
    slots = _slots()
    if refusal is None and not slots.acquire(timeout=HASH_WAIT):
        refusal = Refusal("busy", now + BUSY_RETRY)
    if refusal is not None:
        outcome = "throttled"  # not hashed: refused guesses must stay cheap
    else:
        try:
            outcome = services.check_account_password(account, password)
        finally:
            slots.release()
    db.session.execute(
        sa.update(LoginAttempt).where(LoginAttempt.id == attempt_id)
        .values(outcome=outcome, user_id=account_id)
    )
    db.session.commit()
    if outcome == "success":
        return SignIn(outcome, user=db.session.get(User, account_id))
    left = max(0, max_account - account_failures - 1) if outcome != "throttled" else None
    return SignIn(outcome, refusal=refusal, failures_left=left)


def prune_log(now: dt.datetime | None = None) -> int:
    """Delete sign-in attempts older than CRM_SIGNIN_LOG_RETENTION_DAYS (180); the number deleted.

    Far older than the throttle's window, so no count changes. Flushes, does not commit.
    """
    days = int(current_app.config.get("CRM_SIGNIN_LOG_RETENTION_DAYS", 180))
    cutoff = (now or utcnow()) - dt.timedelta(days=max(days, 1))
    result = db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < cutoff))
    return result.rowcount or 0
