"""Each unit's yearly aggregates, kept until the unit's leads change.

A province has ~2,000 units; recomputing every unit's year on every request of the district
overview takes seconds. The numbers of a unit only change when one of its leads, stage changes,
visits, capital entries or targets is written, so:

- every transaction that writes one of those bumps the unit's ``StatsVersion`` before it commits
  (``bump_versions``, from ORM events: every writer goes through the ORM);
- ``district_stats`` reads the units' current versions *before* computing, keeps the cached rows
  whose version is current, computes the rest in SQL and stores them with the versions it read.
  A write that commits while the numbers are computed has already bumped the version, so the row
  stored is never read: the cache can be stale only in the direction of being recomputed.

The as-of date and year are part of the key (numbers "as of" a date change with the calendar
alone, e.g. planned starts falling due), and so is the time progress the colours are measured
against. The row also records its ``basis``: the layout of its columns (``FORMAT``) and the yellow
margin (a setting) its colours were given with; a row on another basis
is recomputed.
"""

import datetime as dt
import json
import logging
from decimal import Decimal
from fractions import Fraction
from itertools import chain

import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.db_events import writes
from crm.extensions import db
from crm.leads.models import FundEntry, Lead, StageChange
from crm.stats.models import StatsCache, StatsVersion
from crm.targets.models import Target
from crm.visits.models import Visit

log = logging.getLogger(__name__)

#: The layout of a row's JSON columns: change it with the layout, and older rows are not read.
FORMAT = 1
#: A cached row not recomputed for this long is deleted when its unit is next stored.
KEEP = dt.timedelta(days=7)
#: Up to this many units are named in an IN list; more are read whole and filtered here.
IN_LIST = 200
_WROTE = "crm_stats_wrote"
_TOUCHED = "crm_stats_touched"


# -- invalidation ---------------------------------------------------------------------------

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
        elif isinstance(obj, StageChange | Visit | FundEntry):
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
    session.flush()  # what the commit would flush still counts
    bump_versions(session)


def bump_versions(session: Session) -> None:
    """Bump the version of every unit written to since the last bump, in the session's
    transaction: once per transaction (an import of 10,000 leads flushes 20,000 times), at its
    commit, or before the session reads versions itself (``versions``)."""
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
    stmt = _insert(conn, table).values([{"township_id": t, "version": 1} for t in sorted(units)])
    conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.township_id],
                                            set_={"version": table.c.version + 1}))


@sa.event.listens_for(Session, "after_transaction_end")
def _transaction_over(session: Session, transaction) -> None:
    if transaction.parent is None:  # the database transaction, not a savepoint inside it
        session.info.pop(_WROTE, None)
        session.info.pop(_TOUCHED, None)


def _insert(conn, table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


# -- reading and storing ----------------------------------------------------------------------

def versions(township_ids: list[int]) -> dict[int, int]:
    """Each unit's current version (0 for a unit never written to since the cache existed)."""
    db.session.flush()
    bump_versions(db.session)  # this transaction's own writes count
    stmt = sa.select(StatsVersion.township_id, StatsVersion.version)
    if len(township_ids) <= IN_LIST:
        stmt = stmt.where(StatsVersion.township_id.in_(township_ids))
    found = dict(db.session.execute(stmt).all())
    return {t: found.get(t, 0) for t in township_ids}


def _rows(current: dict[int, int], year: int, as_of: dt.date, margin: Fraction, *columns):
    """``columns`` of the cached rows that may be read: at the unit's current version, on this
    basis (this layout, this yellow margin)."""
    stmt = sa.select(StatsCache.township_id, StatsCache.version, *columns).where(
        StatsCache.year == year, StatsCache.as_of == as_of, StatsCache.basis == _basis(margin))
    if len(current) <= IN_LIST:
        stmt = stmt.where(StatsCache.township_id.in_(list(current)))
    for township_id, version, *values in db.session.execute(stmt):
        if current.get(township_id) == version:
            yield township_id, values


def load(current: dict[int, int], year: int, as_of: dt.date,
         margin: Fraction) -> dict[int, dict]:
    """The cached numbers (``encode``'s) of the units whose row may be read."""
    return {township_id: json.loads(payload) for township_id, (payload,)
            in _rows(current, year, as_of, margin, StatsCache.payload)}


def load_api(current: dict[int, int], year: int, as_of: dt.date,
             margin: Fraction) -> dict[int, tuple[Fraction | None, str]]:
    """(mean attainment, the API's JSON object) of the units whose row may be read."""
    return {township_id: (_parse(mean), api_json)
            for township_id, (mean, api_json)
            in _rows(current, year, as_of, margin, StatsCache.mean_attainment, StatsCache.api_json)}


def load_summary(current: dict[int, int], year: int, as_of: dt.date,
                 margin: Fraction) -> dict[int, tuple[Fraction | None, list]]:
    """(mean attainment, ``totals_of``) of the units whose row may be read."""
    return {township_id: (_parse(mean), json.loads(totals))
            for township_id, (mean, totals)
            in _rows(current, year, as_of, margin, StatsCache.mean_attainment, StatsCache.totals)}


def totals_of(unit) -> list:
    """The numbers of a unit that a district's totals add up (``DistrictStats.totals``), in
    ``_total_keys`` order: counts as ints, amounts of 万元 as exact strings."""
    return [str(getattr(unit, name)[key]) if key in AMOUNTS else int(getattr(unit, name)[key])
            for name, key in _total_keys()]


def add_totals(total, rows: list[list]) -> None:
    """Add up ``totals_of``'s rows into ``total`` (a ``UnitStats``), a column at a time."""
    for (name, key), column in zip(_total_keys(), zip(*rows, strict=True), strict=True):
        getattr(total, name)[key] += (sum(map(Decimal, column)) if key in AMOUNTS
                                      else sum(column))


def _total_keys() -> list[tuple[str, str]]:
    from crm.stats.queries import UnitStats

    blank = UnitStats(0, "", "")
    return [(name, key) for name in TOTALS for key in getattr(blank, name)]


def store(units: list, year: int, as_of: dt.date, current: dict[int, int],
          margin: Fraction) -> None:
    """Keep freshly computed ``UnitStats`` (with their targets), best effort.

    A read request (GET) writes them in a short transaction of its own: it never writes later,
    so a commit made meanwhile cannot make its own transaction stale. Anywhere else (a write
    request, a command, a scheduled job) the rows join the caller's transaction and commit with
    it: on SQLite a writer holds the write lock, so a second connection would wait for it, and a
    reader that writes later would find its snapshot stale.
    """
    from crm.stats.payload import unit_json

    if not units:
        return
    now = utcnow()
    values = [{"township_id": u.township_id, "year": year, "as_of": as_of,
               "version": current[u.township_id], "basis": _basis(margin),
               "mean_attainment": _text(u.mean_attainment),
               "totals": json.dumps(totals_of(u), separators=(",", ":")),
               "payload": json.dumps(encode(u), separators=(",", ":")),
               "api_json": unit_json(u), "computed_at": now}
              for u in units]
    table = StatsCache.__table__

    def write(conn):
        stmt = _insert(conn, table)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[table.c.township_id, table.c.year, table.c.as_of],
            set_={name: stmt.excluded[name] for name in
                  ("version", "basis", "mean_attainment", "totals", "payload", "api_json",
                   "computed_at")},
            where=table.c.version <= stmt.excluded.version,
        ), values)
        ids = [v["township_id"] for v in values]
        old = sa.delete(table).where(table.c.computed_at < now - KEEP)
        if len(ids) <= IN_LIST:
            old = old.where(table.c.township_id.in_(ids))
        conn.execute(old)

    try:
        if has_request_context() and not writes() and not db.session.info.get(_WROTE):
            with db.engine.begin() as conn:
                write(conn)
        else:
            with db.session.begin_nested():
                write(db.session.connection())
    except sa.exc.DBAPIError as exc:  # a cache that could not be written is only slower
        log.warning("statistics cache not stored (%s)", type(exc).__name__)


def clear() -> int:
    """Forget every cached number (after data was changed outside the app, e.g. by hand)."""
    return db.session.execute(sa.delete(StatsCache)).rowcount


# -- the payload --------------------------------------------------------------------------------

#: The dicts of numbers a ``UnitStats`` holds: counts are ints and velocities floats (as
#: ``_compute`` gives them); the actuals are ints or Decimals (kept as they are).
COUNTS = ("snapshot", "entered", "reached", "velocity")
TOTALS = ("snapshot", "entered", "reached", "actuals")
#: The actuals that are amounts of 万元 (the others count leads or visits).
AMOUNTS = ("signed_investment_wan", "funds_arrived_wan")
RATES = ("start_rate", "stats_inclusion_rate", "funds_arrival_rate", "mean_attainment")


def _number(value):
    return str(value) if isinstance(value, Decimal) else value


def _unnumber(value):
    return Decimal(value) if isinstance(value, str) else value


def _pair(value: Fraction | None):
    return None if value is None else [value.numerator, value.denominator]


def _parse(text: str | None) -> Fraction | None:
    """``_text``'s "n/d" back (``Fraction(text)`` parses with a regular expression: slower)."""
    if text is None:
        return None
    numerator, _slash, denominator = text.partition("/")
    return Fraction(int(numerator), int(denominator))


def _basis(margin: Fraction) -> str:
    return f"{FORMAT};{_text(margin)}"


def _text(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _fraction(pair) -> Fraction | None:
    return None if pair is None else Fraction(*pair)


def encode(unit) -> dict:
    """A ``UnitStats``'s numbers, targets and rates as JSON values, exactly."""
    return {
        **{name: getattr(unit, name) for name in COUNTS},
        "actuals": {k: _number(v) for k, v in unit.actuals.items()},
        **{name: _pair(getattr(unit, name)) for name in RATES},
        "targets": [[t.metric, str(t.target), _number(t.actual), _pair(t.attainment), t.color]
                    for t in unit.targets],
    }


def decode(payload: dict, unit) -> None:
    """Fill a fresh ``UnitStats`` from ``encode``'s values."""
    from crm.stats.queries import TargetResult

    for name in COUNTS:
        setattr(unit, name, payload[name])
    unit.actuals = {k: _unnumber(v) for k, v in payload["actuals"].items()}
    for name in RATES:
        setattr(unit, name, _fraction(payload[name]))
    unit.targets = [TargetResult(metric, Decimal(target), _unnumber(actual), _fraction(a), colour)
                    for metric, target, actual, a, colour in payload["targets"]]


def warm(as_of: dt.date) -> int:
    """Make every unit's numbers for ``as_of``'s year as of that day current in the cache
    (computing those that are not), and forget rows not recomputed for ``KEEP``; the number of
    units. The caller commits.

    The scheduler runs it just after midnight, so the first statistics request of the day does
    not compute a whole province's year (seconds) while someone waits.
    """
    from crm.auth.models import User
    from crm.stats.queries import district_stats

    everyone = User(role="district_admin", active=True)  # sees every unit; never saved
    stats = district_stats(everyone, as_of.year, as_of)
    db.session.execute(sa.delete(StatsCache).where(StatsCache.computed_at < utcnow() - KEEP))
    return len(stats.units)
