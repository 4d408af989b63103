"""The app's exceptions and how to tell a database that cannot be reached: no handlers here.

Domain errors are raised by services and translated by the handlers ``crm.main.errors``
registers (a form error; a 4xx JSON answer); a database that cannot be used is a 503 there.
"""


class DomainError(Exception):
    """Invalid input or a rule broken; ``fields`` maps a field to its messages."""

    status = 422
    code = "invalid"

    def __init__(self, message, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.fields = fields or {}


class Conflict(DomainError):
    """An edit based on a stale ``version``; ``changes`` says what changed since."""

    status = 409
    code = "conflict"

    def __init__(self, message, changes: dict | None = None):
        super().__init__(message)
        self.changes = changes or {}


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


# --- the database unreachable: 503, never a stack trace ---------------------------------------

#: Seconds a client is asked to wait before trying again (the ``Retry-After`` header).
RETRY_AFTER = 30

#: SQLite result codes that mean "the file cannot be used now", not "the query is wrong".
_SQLITE_UNAVAILABLE = ("SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR",
                       "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH",
                       "SQLITE_PROTOCOL", "SQLITE_NOTADB", "SQLITE_CORRUPT")


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot be reached or used right now (a 503, not a bug).

    PostgreSQL: every OperationalError / InterfaceError (refused, reset, server shut down, too
    many connections, statement timeout), any error SQLAlchemy saw as a disconnect, and a pool
    that had no connection to give. SQLite: only the result codes of ``_SQLITE_UNAVAILABLE``
    (a syntax error is an OperationalError there too, and stays a 500).
    """
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection to give in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    name = getattr(exc.orig, "sqlite_errorname", None)
    if name is not None or type(exc.orig).__module__ == "sqlite3":
        return bool(name) and name.startswith(_SQLITE_UNAVAILABLE)
    return True


def describe_database_error(exc: BaseException) -> str:
    """One log line for ``exc``: the driver's message and the URL, never a password, the SQL
    or its parameters (SQLAlchemy's own message carries both)."""
    from crm.extensions import db

    orig = getattr(exc, "orig", None) or exc
    message = " ".join(str(orig).split())[:500]
    try:
        url = db.engine.url
    except Exception:  # noqa: BLE001 (no engine: say so rather than fail while reporting)
        return f"{type(orig).__name__}: {message}"
    if url.password:
        message = message.replace(str(url.password), "***")
    where = url.render_as_string(hide_password=True)
    return f"{type(orig).__name__}: {message} (database {where})"
