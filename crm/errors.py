"""Domain errors that views and the API both translate (a form error; a 4xx JSON answer)."""


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


def register_database_errors(app) -> None:
    """503 with ``Retry-After`` for a database that cannot be reached; the session is discarded
    so the next request starts clean (the pool pings before reuse, so recovery needs no restart).
    """
    import functools
    import logging

    from flask import g, jsonify, render_template, request, session
    from flask_babel import gettext as _
    from sqlalchemy import exc as sa_exc
    from werkzeug.exceptions import InternalServerError

    from crm.extensions import db, login_manager
    from crm.i18n import DEFAULT, SUPPORTED
    from crm.logs import redact
    from crm.main.errors import render_error

    log = logging.getLogger("crm.database")

    def unavailable(exc):
        log.error("database unavailable on %s %s: %s", request.method, redact(request.path),
                  describe_database_error(exc))
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001, S110 (a dead connection cannot roll back; it is dropped)
            pass
        db.session.remove()
        # Who is signed in and their language are in the database: answer as to a visitor, in the
        # session's language or the default.
        g._login_user = login_manager.anonymous_user()
        if g.get("locale") not in SUPPORTED:
            g.locale = session.get("lang") if session.get("lang") in SUPPORTED else DEFAULT
        message = _("数据库暂时无法连接，请稍后再试。")
        if request.path.startswith("/api/"):
            response = jsonify(error={"code": "unavailable", "message": message, "fields": {}})
        else:
            response = app.make_response(render_template("errors/unavailable.html", message=message))
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER)
        response.headers["Cache-Control"] = "no-store"
        return response

    def database_error(exc):
        if database_unavailable(exc):
            return unavailable(exc)
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return render_error(500)

    def server_error(exc: InternalServerError):
        """What no handler took, or what a handler raised: 503 if it was the database."""
        if database_unavailable(getattr(exc, "original_exception", None)):
            return unavailable(exc.original_exception)
        return render_error(500)

    def guarded(handler):
        """``handler`` (say the 404 page, which asks who is signed in), answering 503 when it
        finds the database unreachable itself."""

        @functools.wraps(handler)
        def wrapper(exc):
            try:
                return handler(exc)
            except (sa_exc.DBAPIError, sa_exc.TimeoutError) as db_exc:
                if database_unavailable(db_exc):
                    return unavailable(db_exc)
                raise

        return wrapper

    for handlers in app.error_handler_spec[None].values():
        for exc_class, handler in list(handlers.items()):
            handlers[exc_class] = guarded(handler)
    app.register_error_handler(sa_exc.DBAPIError, database_error)
    app.register_error_handler(sa_exc.TimeoutError, database_error)
    app.register_error_handler(InternalServerError, guarded(server_error))
