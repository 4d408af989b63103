"""Portable SQL pieces the statistics need (date differences, medians, upserts, temporary
tables)."""

import contextlib

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable, FunctionElement


class days_between(FunctionElement):  # noqa: N801 (reads as a SQL function)
    """Whole days from ``start`` to ``end`` (``end - start``) for DATE columns."""

    type = sa.Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_default(element, compiler, **kw):
    end, start = list(element.clauses)
    return f"({compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):
    end, start = list(element.clauses)
    return (f"CAST(julianday({compiler.process(end, **kw)}) - "
            f"julianday({compiler.process(start, **kw)}) AS INTEGER)")


class no_index(FunctionElement):  # noqa: N801 (reads as a SQL function)
    """A column that SQLite must not pick an index for (its documented unary ``+``); the column
    itself elsewhere. For a condition that is true of most rows (a claim's status ``verified``)
    where SQLite, without statistics, would rather scan that index than look rows up by lead."""

    inherit_cache = True
    name = "no_index"

    @property
    def type(self):
        return list(self.clauses)[0].type


@compiles(no_index)
def _no_index_default(element, compiler, **kw):
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(no_index, "sqlite")
def _no_index_sqlite(element, compiler, **kw):
    return f"+{compiler.process(list(element.clauses)[0], **kw)}"


def median_by(values: sa.Subquery, group_cols: list[str], value_col: str) -> sa.Select:
    """SELECT group columns and the median of ``value_col`` per group, in SQL on any database.

    The middle row (odd counts) or the mean of the two middle rows (even counts).
    """
    groups = [values.c[c] for c in group_cols]
    value = values.c[value_col]
    ordered = sa.select(
        *groups, value.label("v"),
        sa.func.row_number().over(partition_by=groups, order_by=value).label("rn"),
        sa.func.count().over(partition_by=groups).label("n"),
    ).subquery()
    # 2·rn ∈ {n, n+1, n+2}: the middle row of an odd count, the two middle rows of an even one.
    twice = ordered.c.rn * 2
    middle = sa.or_(twice == ordered.c.n, twice == ordered.c.n + 1, twice == ordered.c.n + 2)
    return (
        sa.select(*[ordered.c[c] for c in group_cols],
                  sa.func.avg(sa.cast(ordered.c.v, sa.Float)).label("median"))
        .where(middle)
        .group_by(*[ordered.c[c] for c in group_cols])
    )


def upsert(conn, table):
    """``INSERT`` for ``table`` with ``on_conflict_do_update`` on ``conn``'s database (SQLite
    and PostgreSQL spell it alike)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class _CreateTemporaryAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS <select>`` (SQLite and PostgreSQL spell it alike)."""

    inherit_cache = False

    def __init__(self, name: str, select: sa.Select):
        self.name, self.select = name, select


@compiles(_CreateTemporaryAs)
def _create_temporary_as(element, compiler, **kw):
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.select, **kw)}"


@contextlib.contextmanager
def temporary_table(conn, name: str, select: sa.Select, index: str | None = None):
    """``select``'s rows in a temporary table of this connection for the block (a ``Table`` of
    its columns, with their types), dropped after it: for several statements that read the
    same expensive rows, computed once. Made and dropped in the caller's transaction (a
    rollback drops it too); ``index``: a column to index."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))  # a block that died on this connection
    conn.execute(_CreateTemporaryAs(name, select))
    if index:
        conn.execute(sa.text(f"CREATE INDEX ix_{name}_{index} ON {name} ({index})"))
    table = sa.Table(name, sa.MetaData(),
                     *[sa.Column(c.name, c.type) for c in select.selected_columns])
    yield table
    conn.execute(sa.text(f"DROP TABLE {name}"))
