"""Every error handler of the app, registered in one place (``register``, called once by
``create_app``): friendly pages in the user's language, JSON for the API, a 503 with
``Retry-After`` for a database that cannot be reached; never a stack trace."""

import functools
import logging

from flask import g, jsonify, make_response, render_template, request, session
from flask_babel import gettext as _
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from crm.errors import (
    RETRY_AFTER,
    Conflict,
    DomainError,
    database_unavailable,
    describe_database_error,
)
from crm.extensions import db, login_manager
from crm.i18n import DEFAULT, SUPPORTED
from crm.inputs import NOT_AN_OBJECT
from crm.logs import redact

log = logging.getLogger(__name__)

MESSAGES = {
    400: lambda: _("请求有误，请检查后重试。"),
    403: lambda: _("您没有权限访问此页面。"),
    404: lambda: _("页面不存在，或您无权查看。"),
    405: lambda: _("不支持该操作。"),
    409: lambda: _("内容已被他人修改。"),
    413: lambda: _("上传的文件过大。"),
    429: lambda: _("操作过于频繁，请稍后再试。"),
    500: lambda: _("服务器出错了，我们已记录此问题。"),
    503: lambda: _("服务暂时不可用，请稍后再试。"),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def render_error(status: int, description: str | None = None, fields: dict | None = None):
    message = MESSAGES.get(status, MESSAGES[400])()
    if _wants_json():
        if status == 401:
            message = _("缺少或无效的访问令牌")
        if status == 422:
            message = _("提交的内容有误")
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "unprocessable",
                429: "rate_limited", 500: "server_error", 503: "unavailable"}.get(status, "error")
        return jsonify(error={"code": code, "message": message, "fields": fields or {}}), status
    return render_template("errors/error.html", status=status, message=message,
                           detail=description), status


def register(app) -> None:
    """Every handler: HTTP errors, domain errors, anything unexpected, the database errors.

    Each page-rendering handler is ``guarded``: the 404 page, say, asks who is signed in, and
    answers 503 itself when it finds the database unreachable.
    """
    db_log = logging.getLogger("crm.database")

    def unavailable(exc):
        """503 with ``Retry-After``; the session is discarded so the next request starts clean
        (the pool pings before reuse, so recovery needs no restart)."""
        db_log.error("database unavailable on %s %s: %s", request.method, redact(request.path),
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

    def guarded(handler):
        """``handler``, answering 503 when it finds the database unreachable itself."""

        @functools.wraps(handler)
        def wrapper(exc):
            try:
                return handler(exc)
            except (sa_exc.DBAPIError, sa_exc.TimeoutError) as db_exc:
                if database_unavailable(db_exc):
                    return unavailable(db_exc)
                raise

        return wrapper

    def http_error(exc: HTTPException):
        if exc.code in (301, 302, 303, 307, 308):
            return exc
        fields = None
        data = getattr(exc, "data", None) or {}
        if exc.code == 422 and "messages" in data:
            fields = _flatten_messages(data["messages"])
            if _is_malformed(fields):
                return render_error(400, fields=fields)
        body, status = render_error(exc.code or 500, fields=fields)
        response = make_response(body, status)
        # Keep the headers the exception carries: Allow on a 405, Retry-After on a 429.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    def domain_error(exc: DomainError):
        fields = {k: [str(m) for m in v] for k, v in exc.fields.items()}
        if _wants_json():
            body = {"code": exc.code, "message": str(exc.message), "fields": fields}
            if isinstance(exc, Conflict):
                body["changes"] = exc.changes
            return jsonify(error=body), exc.status
        return render_error(exc.status)

    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return render_error(500)

    def database_error(exc):
        if database_unavailable(exc):
            return unavailable(exc)
        db_log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return render_error(500)

    def server_error(exc: InternalServerError):
        """What no handler took, or what a handler raised: 503 if it was the database."""
        if database_unavailable(getattr(exc, "original_exception", None)):
            return unavailable(exc.original_exception)
        return render_error(500)

    app.register_error_handler(HTTPException, guarded(http_error))
    app.register_error_handler(DomainError, guarded(domain_error))
    app.register_error_handler(Exception, guarded(unexpected))
    app.register_error_handler(sa_exc.DBAPIError, database_error)
    app.register_error_handler(sa_exc.TimeoutError, database_error)
    app.register_error_handler(InternalServerError, guarded(server_error))

    def log_exception(exc_info) -> None:
        """Flask's own log line for what an error handler raised, the path's secret redacted."""
        app.logger.error("Exception on %s [%s]", redact(request.path), request.method,
                         exc_info=exc_info)

    app.log_exception = log_exception


def _flatten_messages(messages: dict) -> dict:
    """webargs' {"json": {"field": [..]}} → {"field": [..]}."""
    fields: dict = {}
    for location, value in messages.items():
        if isinstance(value, dict):
            for name, msgs in value.items():
                fields[name] = _strings(msgs)
        else:
            fields[location] = _strings(value)
    return fields


def _strings(msgs) -> list:
    if isinstance(msgs, dict):
        return [f"{k}: {m}" for k, v in msgs.items() for m in _strings(v)]
    if isinstance(msgs, list | tuple):
        return [str(m) for m in msgs]
    return [str(msgs)]


def _is_malformed(fields: dict) -> bool:
    """A body that is not a JSON object at all is malformed (400), not invalid (422)."""
    body = str(NOT_AN_OBJECT)
    return "_schema" in fields and any(m == body or "Invalid input type" in m
                                       for m in fields["_schema"])
