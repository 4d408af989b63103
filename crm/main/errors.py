"""Friendly error pages in the user's language; JSON for the API; never a stack trace."""

import logging

from flask import jsonify, make_response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from crm.errors import Conflict, DomainError
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


def register(app):
    @app.errorhandler(HTTPException)
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

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        fields = {k: [str(m) for m in v] for k, v in exc.fields.items()}
        if _wants_json():
            body = {"code": exc.code, "message": str(exc.message), "fields": fields}
            if isinstance(exc, Conflict):
                body["changes"] = exc.changes
            return jsonify(error=body), exc.status
        return render_error(exc.status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return render_error(500)

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
    return "_schema" in fields and any("Invalid input type" in m for m in fields["_schema"])
