"""Counting the SQL statements a block of code runs (pages must not grow with the data)."""

import contextlib

import sqlalchemy as sa

from crm.extensions import db


@contextlib.contextmanager
def count_queries(engine=None):
    """``with count_queries() as c: ...`` then ``c["n"]`` is the number of statements run (on the
    current app's engine, or ``engine``)."""
    counter = {"n": 0}
    engine = engine if engine is not None else db.engine

    def on_execute(*_args, **_kw):
        counter["n"] += 1

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_execute)
