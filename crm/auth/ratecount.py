"""Fixed-window request counts in the database, shared by every worker and server.

One row per caller and window; a hit is one atomic ``INSERT ... ON CONFLICT DO UPDATE SET
count = count + 1 RETURNING count`` (SQLite ≥ 3.35 and PostgreSQL alike), so two workers counting
the same caller at once never lose a hit. The statement runs in a transaction of its own that
commits at once: no lock is held while the request runs.
"""

import logging
import math
import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crm.auth.models import RateWindow
from crm.extensions import db

log = logging.getLogger(__name__)


def window_end(now: float, period: int) -> int:
    """The end (epoch seconds) of the fixed window of ``period`` seconds that holds ``now``."""
    return (int(now // period) + 1) * period


def hit_and_commit(key: str, limit: int, period: int, now: float | None = None) -> int | None:
    """Count one request of ``key``; None when allowed, else the whole seconds until the window ends.

    Ends the session's transaction first (so the count is written in a transaction of its own,
    never upgrading a read snapshot on SQLite) and commits the count. A database too busy to
    count lets the request through: the limiter must not refuse callers for its own sake.
    """
    now = time.time() if now is None else now
    ends_at = window_end(now, period)
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(
        RateWindow)
    stmt = insert.values(key=key[:80], ends_at=ends_at, count=1).on_conflict_do_update(
        index_elements=[RateWindow.key, RateWindow.ends_at],
        set_={"count": RateWindow.count + 1},
    ).returning(RateWindow.count)
    db.session.commit()
    try:
        count = db.session.execute(stmt).scalar_one()
        db.session.commit()
    except sa.exc.OperationalError:
        db.session.rollback()
        log.warning("rate limit not counted: the database is busy")
        return None
    if count > limit:
        return max(1, math.ceil(ends_at - now))
    return None


def prune(now: float | None = None) -> int:
    """Delete the windows that have ended; the number deleted. Flushes, does not commit."""
    now = time.time() if now is None else now
    result = db.session.execute(sa.delete(RateWindow).where(RateWindow.ends_at <= int(now)))
    return result.rowcount or 0
