"""The target model and its metric codes (a unit's yearly goal for each metric)."""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.columns import Fixed
from crm.extensions import db
from crm.townships.models import Township

METRICS = (
    "new_leads", "signed_100m", "signed_1b", "signed_5b", "started_100m", "producing",
    "signed_investment_wan", "visits", "funds_arrived_wan",
    "start_rate", "stats_inclusion_rate", "stats_included_investment_wan",
)
#: Metrics whose actual is a rate of the unit's key projects (a share, 0–1), judged against the
#: target itself rather than time progress, and on the due date once it has passed.
RATE_METRICS = ("start_rate", "stats_inclusion_rate")
#: Metrics whose actual is a count or an amount (the ones a district adds up).
COUNT_METRICS = tuple(m for m in METRICS if m not in RATE_METRICS)
METRIC_LABELS = {
    "new_leads": _l("新增线索"),
    "signed_100m": _l("新签约亿元以上项目"),
    "signed_1b": _l("新签约10亿元以上项目"),
    "signed_5b": _l("新签约50亿元以上项目"),
    "started_100m": _l("新开工亿元以上项目"),
    "producing": _l("新投产项目"),
    "signed_investment_wan": _l("签约投资额（万元）"),
    "visits": _l("走访次数"),
    "funds_arrived_wan": _l("到位资金（万元）"),
    "start_rate": _l("重点项目开工率"),
    "stats_inclusion_rate": _l("重点项目纳统率"),
    "stats_included_investment_wan": _l("纳统有效投资（万元）"),
}


class Target(db.Model):
    __tablename__ = "targets"
    __table_args__ = (
        sa.UniqueConstraint("township_id", "year", "metric"),
        sa.CheckConstraint(sa.column("metric").in_(METRICS), name="metric"),
        sa.CheckConstraint(sa.column("value") >= 0, name="value_not_negative"),
        sa.CheckConstraint(sa.column("year").between(2000, 2100), name="year_sane"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id", ondelete="CASCADE"),
                                             active_history=True)
    year: Mapped[int]
    metric: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[Decimal] = mapped_column(Fixed(4))
    #: 完成时限: the day the target is to be met (within the year; NULL: the year's end). A rate
    #: target is judged on this day once it has passed; an amount's time progress runs to it.
    due_on: Mapped[dt.date | None]

    township: Mapped[Township] = relationship()
