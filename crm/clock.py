"""The business clock: timestamps are stored in UTC, dates are the business timezone's."""

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def utcnow() -> dt.datetime:
    """Now, as an aware UTC datetime (what we store)."""
    return dt.datetime.now(dt.UTC)


def business_tz() -> ZoneInfo:
    name = current_app.config["CRM_TIMEZONE"] if has_app_context() else "Asia/Shanghai"
    return ZoneInfo(name)


def today() -> dt.date:
    """Today's date in the business timezone (Asia/Shanghai), never the server's UTC date."""
    return utcnow().astimezone(business_tz()).date()


def local_time(value: dt.datetime | None) -> dt.datetime | None:
    """A stored UTC timestamp shown in the business timezone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(business_tz())
