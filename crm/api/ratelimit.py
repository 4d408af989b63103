"""API rate limits: a fixed window per token (per address for calls without a valid token).

Counted in the database (crm/auth/ratecount.py), so n workers or servers together allow the
limit once, not n times.
"""

import hashlib

from flask import Flask, g, request
from werkzeug.exceptions import TooManyRequests

from crm.auth import ratecount
from crm.auth.services import user_for_token_and_commit

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_limit(text) -> tuple[int, int] | None:
    """``"300/minute"`` → (300, 60); ``"0"``, ``""`` or ``"off"`` → None (no limit)."""
    text = str(text or "").strip().lower()
    if text in {"", "0", "off", "none"}:
        return None
    count, _, unit = text.partition("/")
    unit = (unit.strip() or "minute").removesuffix("s")
    if unit not in _PERIODS or not count.strip().isdigit():
        raise ValueError(f"CRM_API_RATE_LIMIT: expected e.g. '300/minute', got {text!r}")
    if int(count) == 0:
        return None
    return int(count), _PERIODS[unit]


class TooManyApiRequests(TooManyRequests):
    def __init__(self, retry_after: int):
        super().__init__(retry_after=retry_after)


def _bearer_token() -> str | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" and raw.strip() else None


def rate_limit_key() -> str:
    """The caller: its token when valid (found once and kept for the request), else its address."""
    raw = _bearer_token()
    if raw is not None:
        user = user_for_token_and_commit(raw)
        g.api_token_user = user
        if user is not None:
            return "token:" + hashlib.sha256(raw.encode()).hexdigest()
    return f"addr:{request.remote_addr}"


def init_app(app: Flask) -> None:
    limit = parse_limit(app.config.get("CRM_API_RATE_LIMIT"))
    if limit is None:
        return
    count, period = limit
    app.extensions["crm_rate_limit"] = limit

    @app.before_request
    def limit_api_calls():
        if not request.path.startswith("/api/"):
            return
        retry_after = ratecount.hit_and_commit(rate_limit_key(), count, period)
        if retry_after is not None:
            raise TooManyApiRequests(retry_after)
