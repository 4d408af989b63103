"""What the logs may say about a request: paths without the secrets some of them carry.

Shared by gunicorn's access log (crm/gunicorn_conf.py) and the app's error logs (crm/errors.py,
crm/main/errors.py). It imports nothing of the app, so gunicorn's settings load without it.
Logs name a request by its path only (``request.path``), never the query string.
"""

import re

#: Paths whose last part is a secret (unsubscribe links in mail, the big screen's link).
SECRET_PATH = re.compile(r"^(/reminders/unsubscribe/|/screen/(?!links/))[^/?]+")


def redact(path: str) -> str:
    """``path`` with the token of a secret link replaced: ``/screen/[redacted]``."""
    return SECRET_PATH.sub(r"\1[redacted]", path)
