"""What the logs may say about a request: paths without the secrets some of them carry.

Shared by gunicorn's access log (crm/gunicorn_conf.py), the development server's access log
(`crm serve`, `make run`: ``dev_request_handler``) and the app's error logs (crm/errors.py,
crm/main/errors.py). It imports nothing of the app, so gunicorn's settings load without it.
Logs name a request by its path only (``request.path``), never the query string.
"""

import re

#: Paths whose last part is a secret (unsubscribe links in mail, the big screen's link).
SECRET_PATH = re.compile(r"^(/reminders/unsubscribe/|/screen/(?!links/))[^/?]+")


#: The same secrets anywhere in a line of text (a request line, an error message).
SECRET_IN_TEXT = re.compile(r"(/reminders/unsubscribe/|/screen/(?!links/))[^/?#\s\"'<>]+")


def redact(path: str) -> str:
    """``path`` with the token of a secret link replaced: ``/screen/[redacted]``."""
    return SECRET_PATH.sub(r"\1[redacted]", path)


def redact_text(text: str) -> str:
    """Every secret link's token in ``text`` replaced, wherever it appears."""
    return SECRET_IN_TEXT.sub(r"\1[redacted]", text)


def request_line(line: str) -> str:
    """``GET /screen/abc?q=1 HTTP/1.1`` as logged: the path without its query, redacted."""
    parts = line.split(" ")
    if len(parts) == 3:
        method, target, version = parts
        return f"{method} {redact(target.split('?', 1)[0])} {version}"
    return redact_text(line.split("?", 1)[0])


def dev_request_handler():
    """Werkzeug's development server handler (`crm serve`) logging as gunicorn's access log does:
    the path without query string, secret links redacted, in the request line and in any other
    line it logs (a malformed request is logged with its raw line)."""
    from werkzeug.serving import WSGIRequestHandler

    class RedactingHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):
            line = getattr(self, "requestline", "")
            self.requestline = request_line(line)
            try:
                super().log_request(code, size)
            finally:
                self.requestline = line

        def log(self, type, message, *args):  # noqa: A002  (werkzeug's signature)
            text = message % args if args else message
            super().log(type, "%s", redact_text(request_line_in(text)))

    return RedactingHandler


def request_line_in(text: str) -> str:
    """Query strings cut from any ``/path?query`` in ``text`` (up to the next space or quote)."""
    return re.sub(r"(/[^\s\"'?]*)\?[^\s\"']*", r"\1", text)
