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
import logging
import math
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from crm.auth import names, services
from crm.auth.models import LOGIN_FAILURES, LoginAttempt, User
from crm.clock import utcnow
from crm.extensions import db

#: Passwords hashed at once in this process (CRM_LOGIN_HASH_SLOTS, default 2). A hash is CPU
#: work: a flood of sign-ins that all hashed would take every server thread and the CPU, and a
#: colleague's visit would wait behind them. A few attempts (CRM_LOGIN_HASH_QUEUE, default 2) may
#: wait up to ``HASH_WAIT`` for a slot, so colleagues signing in at the same moment are all let
#: in; an attempt that finds the slots taken and the queue full is refused at once (scope
#: ``busy``, retry in a few seconds), before it touches the database: no hash, no lock, no row in
#: the sign-in log (the app log counts them), and it counts as no failure. So a flood holds at
#: most slots + queue of the server's threads, each briefly, and is otherwise answered as fast as
#: a static page.
BUSY_RETRY = dt.timedelta(seconds=5)
#: Seconds an attempt in the queue waits for a free hashing slot (waiting costs no CPU).
HASH_WAIT = 3
log = logging.getLogger(__name__)


class HashGate:
    """This process's hashing slots and the short queue in front of them."""

    def __init__(self, slots: int, queue: int):
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._queue, self._waiting = queue, 0
        self.refused = 0  # busy refusals since the last warning in the log
        self._warned_at = 0.0

    def enter(self, wait: float = HASH_WAIT) -> bool:
        """Take a slot: at once if one is free, else after waiting in the queue when it has room;
        False (refused) when both are full or the wait ran out. ``leave()`` after a True."""
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiting >= self._queue:
                self._refuse()
                return False
            self._waiting += 1
        try:
            entered = self._slots.acquire(timeout=wait)
        finally:
            with self._lock:
                self._waiting -= 1
        if not entered:
            with self._lock:
                self._refuse()
        return entered

    def full(self) -> bool:
        """Whether an attempt now would be refused (a glance, without taking anything)."""
        with self._lock:
            if self._waiting < self._queue or self._slots._value > 0:
                return False
            self._refuse()
            return True

    def leave(self) -> None:
        self._slots.release()

    def _refuse(self) -> None:  # under self._lock
        self.refused += 1
        now = time.monotonic()
        if now - self._warned_at >= 60:
            log.warning("sign-in flood: %d attempts refused as busy without a hash", self.refused)
            self._warned_at, self.refused = now, 0


_gates: dict[tuple[int, int], HashGate] = {}
_gates_lock = threading.Lock()


def gate() -> HashGate:
    config = current_app.config
    size = (max(1, int(config.get("CRM_LOGIN_HASH_SLOTS", 1))),
            max(0, int(config.get("CRM_LOGIN_HASH_QUEUE", 1))))
    with _gates_lock:
        return _gates.setdefault(size, HashGate(*size))


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
    hashing = gate()
    if not hashing.enter():
        return SignIn("throttled", refusal=Refusal("busy", now + BUSY_RETRY))
    try:
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
        if refusal is not None:
            outcome = "throttled"  # not hashed: refused guesses must stay cheap
        else:
            outcome = services.check_account_password(account, password)
    finally:
        hashing.leave()
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
