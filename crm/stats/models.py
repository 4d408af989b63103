"""The cache of each unit's yearly aggregates, and the version that tells when it is stale.

``StatsVersion`` counts the writes to a unit's leads (``crm.stats.versions`` bumps it in the
same transaction as the write); a ``StatsCache`` row holds one unit's numbers for a year and as-of date,
computed when the unit was at ``version``. A row whose version is not the unit's current one is
never read.
"""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db


class StatsVersion(db.Model):
    __tablename__ = "stats_versions"

    township_id: Mapped[int] = mapped_column(
        sa.ForeignKey("townships.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1)


class StatsCache(db.Model):
    __tablename__ = "stats_cache"
    __table_args__ = (sa.Index("ix_stats_cache_year_as_of", "year", "as_of"),)

    township_id: Mapped[int] = mapped_column(
        sa.ForeignKey("townships.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger)
    #: What the row was computed on: the layout of its JSON columns and the yellow margin its
    #: colours were given with (``cache._basis``); a row on another basis is not read.
    basis: Mapped[str] = mapped_column(sa.String(64))
    #: The mean attainment of the unit's targets ("n/d"), for ranking without reading ``payload``.
    mean_attainment: Mapped[str | None] = mapped_column(sa.Text)
    #: The unit's numbers that the district's totals add up (``results.totals_of``), as JSON.
    totals: Mapped[str] = mapped_column(sa.Text)
    #: The unit's results as JSON (``results.to_record``: exact counts, 万元 as strings, rates
    #: as [n, d]).
    payload: Mapped[str] = mapped_column(sa.Text)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
