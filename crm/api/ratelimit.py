"""API rate limits: a fixed window per token (per address for calls without a valid token).

Counted in this process's memory: behind several workers each one counts on its own, so the
effective limit is the setting times the number of workers. Good enough to stop a runaway script;
a shared counter (e.g. redis) would be needed for an exact district-wide limit.
"""

import hashlib
import math
import threading
import time

from flask import Flask, g, request
from werkzeug.exceptions import TooManyRequests

from crm.auth.services import user_for_token

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


class FixedWindow:
    """At most ``limit`` hits per key in each window of ``period`` seconds."""

    def __init__(self, limit: int, period: int, clock=time.monotonic):
        self.limit, self.period, self.clock = limit, period, clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}

    def hit(self, key: str) -> int | None:
        """Count a hit; None when allowed, else the whole seconds until the window ends."""
        now = self.clock()
        window = int(now // self.period)
        with self._lock:
            seen, count = self._counts.get(key, (window, 0))
            if seen != window:
                count = 0
            if count >= self.limit:
                return max(1, math.ceil((window + 1) * self.period - now))
            self._counts[key] = (window, count + 1)
            if len(self._counts) > 50_000:  # forget the keys of past windows
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        return None


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
        user = user_for_token(raw)
        g.api_token_user = user
        if user is not None:
            return "token:" + hashlib.sha256(raw.encode()).hexdigest()
    return f"addr:{request.remote_addr}"


def init_app(app: Flask) -> None:
    limit = parse_limit(app.config.get("CRM_API_RATE_LIMIT"))
    if limit is None:
        return
    window = FixedWindow(*limit)
    app.extensions["crm_rate_limit"] = window

    @app.before_request
    def limit_api_calls():
        if not request.path.startswith("/api/"):
            return
        retry_after = window.hit(rate_limit_key())
        if retry_after is not None:
            raise TooManyApiRequests(retry_after)
