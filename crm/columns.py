"""Column types that store the same on every database, and how migrations spell them."""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from crm.money import plain_decimal


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored as naive UTC and read back as aware UTC, the same on every database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use crm.clock.utcnow()")
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


def render_migration_type(type_, obj, autogen_context):
    """Alembic hook: our column types appear in migrations as the plain types they store."""
    if isinstance(type_, Fixed):
        return "sa.BigInteger()"
    if isinstance(type_, UTCDateTime):
        return "sa.DateTime()"
    return False
