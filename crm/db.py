"""The declarative base of every model, the names its constraints get, and long IN lists."""

import sqlalchemy as sa
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


#: Values per ``IN (…)`` list: well under SQLite's and psycopg's limits on parameters.
IN_GROUP = 500


def in_groups(values, size: int = IN_GROUP) -> list[list]:
    """``values`` in lists of at most ``size``, for ``column.in_(group)`` conditions."""
    values = list(values)
    return [values[i:i + size] for i in range(0, len(values), size)]


def in_lists(column, values, size: int = IN_GROUP) -> list:
    """``column IN (…)`` conditions covering ``values``, a list of at most ``size`` each."""
    return [column.in_(group) for group in in_groups(values, size)]
