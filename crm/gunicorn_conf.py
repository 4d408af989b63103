"""Gunicorn settings for production: `gunicorn -c python:crm.gunicorn_conf crm.wsgi:app`.

Settings from the environment: CRM_BIND (default 127.0.0.1:8000, behind nginx), CRM_WORKERS
(default 2 per core + 1, at most 8), CRM_THREADS (default 4 per worker; the PostgreSQL pool of each
worker is sized to it, see CRM_DB_POOL_SIZE), CRM_TIMEOUT (default 60 s), CRM_ACCESS_LOG ("-" for
stderr, a file path, or "off"), CRM_ERROR_LOG, CRM_LOG_LEVEL, CRM_FORWARDED_ALLOW_IPS (the proxies
whose X-Forwarded-Proto gunicorn trusts; default 127.0.0.1).
The scheduler does not run here: one `crm scheduler` process does.
"""

import os

from gunicorn.glogging import Logger

from crm.config import server_threads, server_workers
from crm.logs import redact  # the one redaction, shared with the app's error logs


class AccessLogger(Logger):
    """The access log without secrets: no query strings (the format logs %(U)s, the path) and
    the tokens in secret links replaced."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact(atoms.get("U", ""))
        return atoms


bind = os.environ.get("CRM_BIND", "127.0.0.1:8000").split(",")
workers = server_workers()
threads = server_threads()
worker_class = "gthread"

# A request that takes longer than this (a large export) is killed and logged; graceful restarts
# let running requests finish; idle keep-alive connections from nginx are kept a little while.
timeout = int(os.environ.get("CRM_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Bounds memory growth of long-lived workers; the jitter keeps them from restarting together.
max_requests = 2000
max_requests_jitter = 200
# Each worker loads the app itself (no preload): `systemctl reload` (HUP) then picks up new code,
# and no database connection is ever shared across a fork.
preload_app = False
# gunicorn >= 23's control socket would be one path shared by every instance on the machine;
# systemd's signals (reload = HUP) are all we use.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("CRM_FORWARDED_ALLOW_IPS", "127.0.0.1")

_access = os.environ.get("CRM_ACCESS_LOG", "-")
accesslog = None if _access == "off" else _access
errorlog = os.environ.get("CRM_ERROR_LOG", "-")
loglevel = os.environ.get("CRM_LOG_LEVEL", "info")
# %(U)s is the path without the query string (searches stay out of the log), redacted above.
logger_class = AccessLogger
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

