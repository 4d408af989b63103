"""Settings: CRM_* environment variables, else instance/config.py, else these defaults."""

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = PROJECT_ROOT / "instance"

#: Every public setting (docs/deploy.md) and its default. ``None`` means "computed".
DEFAULTS = {
    "CRM_DATABASE_URL": None,  # sqlite:///instance/crm.sqlite3
    "CRM_SECRET_KEY": None,  # generated once into instance/secret_key
    "CRM_TIMEZONE": "Asia/Shanghai",
    "CRM_BASE_URL": "http://127.0.0.1:5000",
    "CRM_MAIL_BACKEND": "file",
    "CRM_SMTP_HOST": "localhost",
    "CRM_SMTP_PORT": 25,
    "CRM_SMTP_USERNAME": None,
    "CRM_SMTP_PASSWORD": None,
    "CRM_SMTP_SECURITY": "none",
    "CRM_SMTP_TIMEOUT": 20,
    "CRM_MAIL_FROM": "crm@localhost",
    #: The sender's display name in mail (``招商 CRM <crm@localhost>``), unless CRM_MAIL_FROM
    #: carries one (``名称 <address>``); empty: the bare address.
    "CRM_MAIL_FROM_NAME": "招商 CRM",
    "CRM_SCHEDULER": "off",
    "CRM_SESSION_COOKIE_SECURE": False,
    # Sign-in hardening: remember-me lifetime, failed sign-in limits, password length.
    "CRM_REMEMBER_DAYS": 14,
    "CRM_LOGIN_MAX_FAILURES_ACCOUNT": 10,
    "CRM_LOGIN_MAX_FAILURES_ADDRESS": 30,
    "CRM_LOGIN_WINDOW_MINUTES": 15,
    "CRM_PASSWORD_MIN_LENGTH": 8,
    #: Days the sign-in log (/admin/signins) keeps an attempt; older ones are deleted hourly.
    "CRM_SIGNIN_LOG_RETENTION_DAYS": 180,
    #: Passwords hashed at once per server process; more sign-ins at once are asked to retry.
    "CRM_LOGIN_HASH_SLOTS": 1,
    #: Sign-ins that may wait (up to 3 s) for a hashing slot; more at once are refused at once.
    "CRM_LOGIN_HASH_QUEUE": 1,
    # Production server (crm/gunicorn_conf.py) and its PostgreSQL pool; SQLite ignores the pool.
    "CRM_DB_POOL_SIZE": None,  # the threads of one gunicorn worker (CRM_THREADS or computed)
    "CRM_DB_MAX_OVERFLOW": 4,
    # When the scheduler fires the reminders (Asia/Shanghai), "HH:MM" or "HH:MM:SS".
    "CRM_DAILY_REMINDER_TIME": "08:30",
    "CRM_WEEKLY_REMINDER_TIME": "08:00",
    "CRM_WEEKLY_REMINDER_DAY": "mon",
    #: Number of reverse proxies (nginx: 1) in front of the app whose X-Forwarded-* headers are
    #: trusted; 0 ignores those headers, so a client cannot pick its own address.
    "CRM_PROXY_FIX": 0,
    #: Largest request body in bytes (imports are the largest uploads).
    "CRM_MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    #: API requests allowed per token (or per address without one), e.g. "300/minute"; "0" disables.
    #: Counted in the database: every worker and server shares the count.
    "CRM_API_RATE_LIMIT": "300/minute",
    #: Import uploads waiting for confirmation: deleted after this many hours (hourly job), and
    #: at most this many per user (a new upload drops the user's oldest).
    "CRM_UPLOAD_RETENTION_HOURS": 24,
    "CRM_UPLOAD_MAX_PENDING": 5,
    #: Reading one imported spreadsheet: most cells (and rows) read, largest shared-strings table
    #: in bytes, and a time backstop in seconds; the file is refused at the first one crossed.
    "CRM_IMPORT_MAX_CELLS": 200_000,
    "CRM_IMPORT_MAX_SHARED_STRINGS": 16 * 1024 * 1024,
    "CRM_IMPORT_MAX_SECONDS": 10,
    # Parameters of the domain rules (colours, reminders, stats) that are settings.
    "CRM_RED_OVERDUE_DAYS": 30,
    "CRM_IDLE_VISIT_DAYS": 60,
    "CRM_TARGET_YELLOW_MARGIN": 0.10,
    # "on": the statistics count a signed, started, producing, 纳统 or capital arrival only once
    # its claim is verified (核验); "off": every claim counts as entered (basis "claimed").
    "CRM_VERIFICATION": "on",
    # Evidence files: "file://" keeps them under instance/attachments (or file:///abs/path);
    # "s3://BUCKET/PREFIX" puts them in any S3-compatible store reached with the CRM_S3_* settings.
    "CRM_STORAGE_URL": "file://",
    "CRM_S3_ENDPOINT_URL": None,  # e.g. http://minio:9000; none for AWS itself
    "CRM_S3_ACCESS_KEY": None,
    "CRM_S3_SECRET_KEY": None,
    "CRM_S3_REGION": None,  # us-east-1 when unset
    #: Largest evidence file in bytes. Unless CRM_MAX_CONTENT_LENGTH is set, a request may be this
    #: plus 1 MB of form.
    "CRM_MAX_ATTACHMENT_BYTES": 20 * 1024 * 1024,
    # WeCom and DingTalk group robots (crm/channels): the hosts a webhook may point at
    # (comma-separated; https only, except a loopback host), and the timeouts of a request.
    "CRM_WEBHOOK_ALLOWED_HOSTS": "qyapi.weixin.qq.com,oapi.dingtalk.com",
    "CRM_WEBHOOK_CONNECT_TIMEOUT": 5,
    "CRM_WEBHOOK_READ_TIMEOUT": 10,
    #: Two normalised company names at least this similar (0..1, rapidfuzz's ratio) name one
    #: investor: a live lead of it in another unit makes a new lead disputed (疑似撞单).
    "CRM_DUPLICATE_SIMILARITY": 0.9,
}

_INT_SETTINGS = {
    "CRM_SMTP_PORT", "CRM_SMTP_TIMEOUT", "CRM_RED_OVERDUE_DAYS", "CRM_IDLE_VISIT_DAYS",
    "CRM_REMEMBER_DAYS", "CRM_LOGIN_MAX_FAILURES_ACCOUNT", "CRM_LOGIN_MAX_FAILURES_ADDRESS",
    "CRM_LOGIN_WINDOW_MINUTES", "CRM_PASSWORD_MIN_LENGTH", "CRM_SIGNIN_LOG_RETENTION_DAYS",
    "CRM_LOGIN_HASH_SLOTS", "CRM_LOGIN_HASH_QUEUE",
    "CRM_DB_POOL_SIZE", "CRM_DB_MAX_OVERFLOW", "CRM_PROXY_FIX", "CRM_MAX_CONTENT_LENGTH",
    "CRM_MAX_ATTACHMENT_BYTES",
    "CRM_UPLOAD_MAX_PENDING", "CRM_IMPORT_MAX_CELLS", "CRM_IMPORT_MAX_SHARED_STRINGS",
}
_FLOAT_SETTINGS = {"CRM_TARGET_YELLOW_MARGIN", "CRM_UPLOAD_RETENTION_HOURS", "CRM_IMPORT_MAX_SECONDS",
                   "CRM_WEBHOOK_CONNECT_TIMEOUT", "CRM_WEBHOOK_READ_TIMEOUT",
                   "CRM_DUPLICATE_SIMILARITY"}
_BOOL_SETTINGS = {"CRM_SESSION_COOKIE_SECURE"}


def _coerce(name, value):
    if value is None or not isinstance(value, str):
        return value
    if name in _INT_SETTINGS:
        return int(value)
    if name in _FLOAT_SETTINGS:
        return float(value)
    if name in _BOOL_SETTINGS:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def load_settings(instance_path: Path, file_settings: dict, environ=None) -> dict:
    """Resolve every setting: the environment first, then the instance file, then the default."""
    environ = os.environ if environ is None else environ
    settings = {}
    for name, default in DEFAULTS.items():
        if name in environ:
            value = environ[name]
        elif name in file_settings:
            value = file_settings[name]
        else:
            value = default
        settings[name] = _coerce(name, value)
    if not settings["CRM_DATABASE_URL"]:
        settings["CRM_DATABASE_URL"] = f"sqlite:///{instance_path / 'crm.sqlite3'}"
    if not settings["CRM_DB_POOL_SIZE"]:
        settings["CRM_DB_POOL_SIZE"] = server_threads(environ)
    explicit_body_limit = "CRM_MAX_CONTENT_LENGTH" in environ or "CRM_MAX_CONTENT_LENGTH" in file_settings
    if not explicit_body_limit and settings["CRM_MAX_ATTACHMENT_BYTES"]:
        # By default a request holds one evidence file at the limit plus 1 MB of form, so a file
        # at the limit reaches the check that explains the limit instead of a bare 413.
        settings["CRM_MAX_CONTENT_LENGTH"] = max(
            settings["CRM_MAX_CONTENT_LENGTH"], settings["CRM_MAX_ATTACHMENT_BYTES"] + 1024 * 1024)
    if not settings["CRM_SECRET_KEY"]:
        settings["CRM_SECRET_KEY"] = _instance_secret_key(instance_path)
    return settings


def server_workers(environ=None) -> int:
    """Gunicorn worker processes: CRM_WORKERS, else 2 per core plus one (at most 8)."""
    environ = os.environ if environ is None else environ
    if environ.get("CRM_WORKERS"):
        return max(1, int(environ["CRM_WORKERS"]))
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def server_threads(environ=None) -> int:
    """Threads per gunicorn worker: CRM_THREADS, else 4 (requests mostly wait on the database)."""
    environ = os.environ if environ is None else environ
    if environ.get("CRM_THREADS"):
        return max(1, int(environ["CRM_THREADS"]))
    return 4


def _instance_secret_key(instance_path: Path) -> str:
    """Generate the secret key once and keep it in the instance folder."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def read_instance_file(instance_path: Path) -> dict:
    """The names defined in instance/config.py (without importing the package)."""
    path = instance_path / "config.py"
    if not path.exists():
        return {}
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102
    return {k: v for k, v in namespace.items() if k.startswith("CRM_")}
