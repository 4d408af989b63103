"""Per-connection database settings: SQLite done right."""

import contextvars

import sqlalchemy as sa

#: Set for the duration of a request or command that writes (POST/PUT/PATCH/DELETE, CLI writers).
#: On SQLite its transactions then begin with BEGIN IMMEDIATE: the write lock is taken up front,
#: so a writer waits (busy_timeout) instead of failing with "database is locked" when it later
#: upgrades a read transaction that another writer's commit has made stale.
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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def mark_request_intent(method: str) -> contextvars.Token:
    """Called before each request: writes begin IMMEDIATE on SQLite, reads stay deferred."""
    return write_intent.set(method in WRITE_METHODS)
