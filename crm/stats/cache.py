"""Each unit's yearly results (``crm.stats.results``), kept until the unit's leads change.

A province has ~2,000 units; recomputing every unit's year on every request of the district
overview takes seconds. The numbers of a unit only change when one of its leads, stage changes,
visits, capital entries, claims (a review changes a claim) or targets is written, and every such
write bumps the unit's version (``crm.stats.versions``). So ``district_stats`` reads the units'
current versions *before* computing, keeps the stored rows whose version is current, computes the
rest in SQL and stores them with the versions it read. A write that commits while the numbers are
computed has already bumped the version, so the row stored is never read: the cache can be stale
only in the direction of being recomputed.

A row holds the unit's results as ``results.to_record`` gives them (exact JSON values), and two
columns derived from them for ranking and totals without reading the whole record: the mean
attainment and ``results.totals_of``. No reader's format (an API's JSON, a page) is stored.

The as-of date and year are part of the key (numbers "as of" a date change with the calendar
alone, e.g. planned starts falling due), and so is the time progress the colours are measured
against. The row also records its ``basis``: the layout of its columns (``FORMAT``), the yellow
margin (a setting) its colours were given with and what its milestones count (``verified``
claims or every ``claimed`` one, ``results.BASES``); a row on another basis is recomputed. Only
the setting's basis (CRM_VERIFICATION) is stored, the one every page reads: numbers asked on the
other basis (the API's ``basis=claimed``) are computed and answered, so the two never overwrite
each other's row. Rows are stored only for as-of dates in the kept window (``kept``): numbers
asked for any other date are computed and answered, never stored, so a crawl through the calendar
cannot fill the table.

What is made from every unit's results is kept too, in the process's memory (``recall`` /
``remember``): the district's ranking (every unit's mean attainment ranked, and every unit added
up; ``ranking`` / ``keep_ranking``) and the stats API's whole answer. Each is a function of the
units' versions and names, the year, the as-of date and the basis, so it is kept under exactly
these and reused until any unit's version (or name, the tie-break) changes. It is kept per
database engine (a test's app, a new database, starts empty), for the last few such keys of each
kind (``KEPT``); ``clear`` bumps every unit's version, so every process's kept values stop being
read.
"""

import copy
import datetime as dt
import json
import logging
from fractions import Fraction

import sqlalchemy as sa
from flask import has_request_context

from crm.clock import today, utcnow
from crm.db_events import writes
from crm.extensions import db
from crm.kept import Kept
from crm.stats import versions
from crm.stats.models import StatsCache, StatsVersion
from crm.stats.results import UnitStats, default_basis, from_record, to_record, totals_of
from crm.stats.sql import upsert
from crm.townships.models import Township

log = logging.getLogger(__name__)

#: The layout of a row's JSON columns: change it with the layout, and older rows are not read.
FORMAT = 3
#: A cached row not recomputed for this long is deleted when its unit is next stored (and by
#: the nightly ``prune``); rows are stored only for as-of dates this close to today (``kept``).
KEEP = dt.timedelta(days=7)
IN_LIST = versions.IN_LIST
#: How many values of each kind (a year, an as-of date, a basis, the units a user sees at their
#: versions) each process keeps: rankings are small, the API's answer for a province ~2 MB.
KEPT = {"ranking": 32, "api": 4}
_kept = {kind: Kept(size) for kind, size in KEPT.items()}


def kept(as_of: dt.date) -> bool:
    """Whether rows for ``as_of`` are stored: today and the ``KEEP`` days before it (the days
    the nightly job keeps and the pages and mail ask for); any other date is only computed."""
    day = today()
    return day - KEEP <= as_of <= day


# -- reading and storing ----------------------------------------------------------------------

def _rows(current: dict[int, int], year: int, as_of: dt.date, margin: Fraction, basis: str,
          *columns):
    """``columns`` of the cached rows that may be read: at the unit's current version, on this
    basis (this layout, this yellow margin, this counting basis)."""
    stmt = sa.select(StatsCache.township_id, StatsCache.version, *columns).where(
        StatsCache.year == year, StatsCache.as_of == as_of,
        StatsCache.basis == _basis(margin, basis))
    if len(current) <= IN_LIST:
        stmt = stmt.where(StatsCache.township_id.in_(list(current)))
    for township_id, version, *values in db.session.execute(stmt):
        if current.get(township_id) == version:
            yield township_id, values


def load(current: dict[int, int], year: int, as_of: dt.date,
         margin: Fraction, basis: str | None = None) -> dict[int, dict]:
    """The stored records (``results.to_record``'s) of the units whose row may be read."""
    return {township_id: json.loads(payload) for township_id, (payload,)
            in _rows(current, year, as_of, margin, basis, StatsCache.payload)}


def load_records(current: dict[int, int], year: int, as_of: dt.date,
                 margin: Fraction, basis: str | None = None) -> dict[int, tuple[Fraction | None, str]]:
    """(mean attainment, the record as stored: JSON text) of the units whose row may be read,
    for a reader that keeps what it makes of a record (see ``unit``)."""
    return {township_id: (_parse(mean), payload)
            for township_id, (mean, payload)
            in _rows(current, year, as_of, margin, basis, StatsCache.mean_attainment,
                            StatsCache.payload)}


def unit(record_text: str, township_id: int = 0, name: str = "", kind: str = "") -> UnitStats:
    """A ``UnitStats`` from a record as ``load_records`` gives it."""
    return from_record(json.loads(record_text), UnitStats(township_id, name, kind))


def load_summary(current: dict[int, int], year: int, as_of: dt.date,
                 margin: Fraction, basis: str | None = None) -> dict[int, tuple[Fraction | None, list]]:
    """(mean attainment, ``totals_of``) of the units whose row may be read."""
    return {township_id: (_parse(mean), json.loads(totals))
            for township_id, (mean, totals)
            in _rows(current, year, as_of, margin, basis, StatsCache.mean_attainment,
                            StatsCache.totals)}


def store(units: list, year: int, as_of: dt.date, current: dict[int, int],
          margin: Fraction, basis: str | None = None) -> None:
    """Keep freshly computed ``UnitStats`` (with their targets), best effort.

    A read request (GET) writes them in a short transaction of its own: it never writes later,
    so a commit made meanwhile cannot make its own transaction stale. Anywhere else (a write
    request, a command, a scheduled job) the rows join the caller's transaction and commit with
    it: on SQLite a writer holds the write lock, so a second connection would wait for it, and a
    reader that writes later would find its snapshot stale.
    """
    if not units or not kept(as_of) or (basis or default_basis()) != default_basis():
        return
    now = utcnow()
    values = [{"township_id": u.township_id, "year": year, "as_of": as_of,
               "version": current[u.township_id], "basis": _basis(margin, basis),
               "mean_attainment": _text(u.mean_attainment),
               "totals": json.dumps(totals_of(u), separators=(",", ":")),
               "payload": json.dumps(to_record(u), separators=(",", ":")),
               "computed_at": now}
              for u in units]
    table = StatsCache.__table__

    def write(conn):
        stmt = upsert(conn, table)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[table.c.township_id, table.c.year, table.c.as_of],
            set_={name: stmt.excluded[name] for name in
                  ("version", "basis", "mean_attainment", "totals", "payload", "computed_at")},
            where=table.c.version <= stmt.excluded.version,
        ), values)
        ids = [v["township_id"] for v in values]
        old = sa.delete(table).where(table.c.computed_at < now - KEEP)
        if len(ids) <= IN_LIST:
            old = old.where(table.c.township_id.in_(ids))
        conn.execute(old)

    try:
        if has_request_context() and not writes() and not versions.wrote(db.session):
            with db.engine.begin() as conn:
                write(conn)
        else:
            with db.session.begin_nested():
                write(db.session.connection())
    except sa.exc.DBAPIError as exc:  # a cache that could not be written is only slower
        log.warning("statistics cache not stored (%s)", type(exc).__name__)


def clear() -> int:
    """Forget every cached number (after data was changed outside the app, e.g. by hand): the
    rows, and every unit's version is bumped, so no process reads a ranking it kept either."""
    table = StatsVersion.__table__
    db.session.execute(sa.update(table).values(version=table.c.version + 1))
    db.session.execute(sa.insert(table).from_select(
        ["township_id", "version"],
        sa.select(Township.id, sa.literal(1, sa.BigInteger)).where(
            Township.id.not_in(sa.select(table.c.township_id)))))
    for kept_ in _kept.values():
        kept_.clear()
    return db.session.execute(sa.delete(StatsCache)).rowcount


# -- kept in the process ---------------------------------------------------------------------

def _key(townships, current: dict[int, int], year: int, as_of: dt.date, margin: Fraction,
         basis: str | None):
    return (year, as_of, _basis(margin, basis),
            tuple((t.id, t.name, current[t.id]) for t in townships))


def recall(kind: str, townships, current: dict[int, int], year: int, as_of: dt.date,
           margin: Fraction, basis: str | None = None):
    """The value of ``kind`` (a key of ``KEPT``) remembered for these units (``(id, name, …)``
    rows) at their ``current`` versions, or None. Shared: read only."""
    return _kept[kind].get(_key(townships, current, year, as_of, margin, basis))


def remember(kind: str, townships, current: dict[int, int], year: int, as_of: dt.date,
             margin: Fraction, basis: str | None, value) -> None:
    """Keep ``value``, made from the units at their ``current`` versions (see ``recall``)."""
    _kept[kind].put(_key(townships, current, year, as_of, margin, basis), value)


def ranking(townships, current: dict[int, int], year: int, as_of: dt.date, margin: Fraction,
            basis: str | None = None):
    """(the ranked units, their totals) kept by ``keep_ranking``, or None. The ranked units are
    shared: read only."""
    found = recall("ranking", townships, current, year, as_of, margin, basis)
    if found is None:
        return None
    ranked, totals = found
    return ranked, copy.deepcopy(totals)


def keep_ranking(townships, current: dict[int, int], year: int, as_of: dt.date,
                 margin: Fraction, basis: str | None, ranked: list, totals) -> None:
    """Keep a ranking computed from the units at their ``current`` versions."""
    remember("ranking", townships, current, year, as_of, margin, basis,
             (ranked, copy.deepcopy(totals)))


# -- the row's text columns ---------------------------------------------------------------------

def _parse(text: str | None) -> Fraction | None:
    """``_text``'s "n/d" back (``Fraction(text)`` parses with a regular expression: slower)."""
    if text is None:
        return None
    numerator, _slash, denominator = text.partition("/")
    return Fraction(int(numerator), int(denominator))


def _basis(margin: Fraction, basis: str | None = None) -> str:
    basis = basis or default_basis()
    return f"{FORMAT};{_text(margin)};{basis}"


def _text(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def prune() -> int:
    """Forget rows not recomputed for ``KEEP`` (the nightly job, after warming); how many. The
    caller commits."""
    stmt = sa.delete(StatsCache).where(StatsCache.computed_at < utcnow() - KEEP)
    return db.session.execute(stmt).rowcount
