"""Declarative base, constraint naming, fixed-point columns and the business clock."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


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


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored as naive UTC and read back as aware UTC, the same on every database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use crm.db.utcnow()")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Fixed(sa.TypeDecorator):
    """An exact decimal stored as a scaled integer.

    SQLite has no exact decimal type; storing ``value * 10**scale`` as an integer keeps amounts
    exact on SQLite and PostgreSQL alike, and SUM() in SQL stays exact.
    ``Fixed(4)`` for 万元 keeps whole 元.
    """

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        scaled = Decimal(value).scaleb(self.scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return int(scaled)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return plain_decimal(Decimal(int(value)).scaleb(-self.scale))

    def coerce_compared_value(self, op, value):
        return self


def plain_decimal(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (15000, 12.5)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def wan_to_yi(value) -> str:
    """万元 → 亿元 with two decimals, as reports show it (15.00)."""
    value = Decimal(value or 0) / Decimal(10000)
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def render_migration_type(type_, obj, autogen_context):
    """Alembic hook: our column types appear in migrations as the plain types they store."""
    if isinstance(type_, Fixed):
        return "sa.BigInteger()"
    if isinstance(type_, UTCDateTime):
        return "sa.DateTime()"
    return False
