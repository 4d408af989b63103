"""Each unit's statistics version: bumped by every transaction that writes to its numbers.

A unit's numbers only change when one of its leads, stage changes, visits, capital entries,
milestone claims (made, reviewed, resubmitted, withdrawn) or targets is written, and every writer
goes through the ORM. So ORM session events note the units each flush writes to (the old and the
new unit of a lead that moves: the unit columns are mapped with ``active_history``) and
``bump_versions`` adds one to their ``StatsVersion`` once per transaction, just before it commits,
or before the same session reads the versions itself (``current``), so a transaction sees its own
writes.

The listeners are registered when this module is imported (``crm.stats.cache`` imports it, and
``crm.models`` imports that with the models).
"""

from itertools import chain

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.claims.models import Claim
from crm.extensions import db
from crm.leads.models import FundEntry, Lead, StageChange
from crm.stats.models import StatsVersion
from crm.stats.sql import upsert
from crm.targets.models import Target
from crm.visits.models import Visit

#: Up to this many units are named in an IN list; more are read whole and filtered here.
IN_LIST = 200
_WROTE = "crm_stats_wrote"
_TOUCHED = "crm_stats_touched"


def _values(obj, name: str) -> set:
    """An attribute's values before and after this flush (both when it changed: the unit
    columns are mapped with ``active_history``)."""
    values = set(sa.inspect(obj).attrs[name].history.sum())
    if not values:
        try:
            values = {getattr(obj, name)}
        except sa.exc.InvalidRequestError:  # deleted and never loaded
            pass
    values.discard(None)
    return values


def _collect(session: Session, objects) -> None:
    """Note the units (and leads) ``objects`` belong to, for ``bump_versions``."""
    units, lead_ids = session.info.setdefault(_TOUCHED, (set(), set()))
    for obj in objects:
        if isinstance(obj, Lead | Target):
            units |= _values(obj, "township_id")
        elif isinstance(obj, StageChange | Visit | FundEntry | Claim):
            lead_ids |= _values(obj, "lead_id")


@sa.event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context, _instances) -> None:
    # Deleted and changed rows are read now, while the database still has them.
    _collect(session, chain(session.dirty, session.deleted))


@sa.event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context) -> None:
    # New rows now have their keys (a visit added to a new lead has its lead_id only now).
    _collect(session, chain(session.new, session.dirty))
    if session.new or session.dirty or session.deleted:
        session.info[_WROTE] = True


@sa.event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release (SQLAlchemy calls this hook for it too): not yet
    session.flush()  # what the commit would flush still counts
    bump_versions(session)


@sa.event.listens_for(Session, "after_transaction_end")
def _transaction_over(session: Session, transaction) -> None:
    if transaction.parent is None:  # the database transaction, not a savepoint inside it
        session.info.pop(_WROTE, None)
        session.info.pop(_TOUCHED, None)


def bump_versions(session: Session) -> None:
    """Bump the version of every unit written to since the last bump, in the session's
    transaction: once per transaction (an import of 10,000 leads flushes 20,000 times), at its
    commit, or before the session reads versions itself (``current``)."""
    units, lead_ids = session.info.pop(_TOUCHED, (set(), set()))
    if not (units or lead_ids):
        return
    conn = session.connection()
    if lead_ids:
        units.update(conn.scalars(
            sa.select(Lead.township_id).where(Lead.id.in_(lead_ids)).distinct()))
    if not units:
        return
    table = StatsVersion.__table__
    stmt = upsert(conn, table).values([{"township_id": t, "version": 1} for t in sorted(units)])
    conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.township_id],
                                            set_={"version": table.c.version + 1}))


def touch(session: Session, township_ids) -> None:
    """Note units written to by Core statements (a bulk import), which the ORM events do not
    see: their versions are bumped with the rest, once, at the commit."""
    township_ids = {t for t in township_ids if t is not None}
    if not township_ids:
        return
    units, _lead_ids = session.info.setdefault(_TOUCHED, (set(), set()))
    units |= township_ids
    session.info[_WROTE] = True


def wrote(session: Session) -> bool:
    """Whether the session's transaction has written anything through the ORM."""
    return bool(session.info.get(_WROTE))


def current(township_ids: list[int]) -> dict[int, int]:
    """Each unit's current version (0 for a unit never written to since the cache existed)."""
    db.session.flush()
    bump_versions(db.session)  # this transaction's own writes count
    stmt = sa.select(StatsVersion.township_id, StatsVersion.version)
    if len(township_ids) <= IN_LIST:
        stmt = stmt.where(StatsVersion.township_id.in_(township_ids))
    found = dict(db.session.execute(stmt).all())
    return {t: found.get(t, 0) for t in township_ids}
