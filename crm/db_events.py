"""Per-connection database settings: SQLite done right."""

import sqlalchemy as sa


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
        conn.exec_driver_sql("BEGIN")
