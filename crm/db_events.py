"""Per-connection database settings: SQLite done right."""

import contextvars

import sqlalchemy as sa

#: Set for a command that writes (the `crm` command line); requests go by their HTTP method
#: (POST/PUT/PATCH/DELETE write). On SQLite a writer's transactions begin with BEGIN IMMEDIATE:
#: the write lock is taken up front, so a writer waits (busy_timeout) instead of failing with
#: "database is locked" when it later upgrades a read transaction that another writer's commit
#: has made stale (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not retry).
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("crm_write_intent", default=False)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def configure_engine(engine: sa.Engine) -> None:
    """WAL, foreign keys and a busy timeout on every SQLite connection."""
    if engine.dialect.name != "sqlite":
        return
    if getattr(engine, "_crm_configured", False):
        return
    engine._crm_configured = True

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # Let SQLAlchemy issue BEGIN itself, so "BEGIN IMMEDIATE" can be used for writers.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes() else "BEGIN")


def writes() -> bool:
    """Whether the transaction about to begin belongs to a writer.

    In a request the HTTP method decides (read here, so it holds for queries made by any hook
    before the view); elsewhere the ``write_intent`` flag (set by the `crm` command line).
    """
    from flask import has_request_context, request

    if has_request_context():
        return request.method in WRITE_METHODS
    return write_intent.get()
