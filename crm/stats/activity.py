"""The last 30 days' activity day by day: visits logged and stage changes, for the dashboards
and the big screen (the month's trend, whatever the day of the month).

Grouped SQL over the leads the statistics count for the user (``counted_leads``), two queries
whatever the number of leads: one row per day that had any, filled into every day of the month
here.
"""

import datetime as dt
from dataclasses import dataclass

from crm.auth.models import User
from crm.extensions import db
from crm.leads.models import StageChange
from crm.stats.breakdowns import moves_by, scoped, visits_by
from crm.visits.models import Visit

#: The series of a day, in the order the charts and tables show them.
SERIES = ("visits", "moves")
#: How many days, up to and including the as-of date.
DAYS = 30


@dataclass
class Day:
    """One day: visits logged that day, stage changes effective that day (moves made by a
    person: not a lead's first stage, not the stages a move skipped)."""

    on: dt.date
    visits: int = 0
    moves: int = 0


@dataclass
class MonthActivity:
    as_of: dt.date
    days: list[Day]

    @property
    def first(self) -> dt.date:
        return self.days[0].on

    def total(self, series: str) -> int:
        return sum(getattr(day, series) for day in self.days)

    @property
    def peak(self) -> int:
        return max((getattr(day, s) for day in self.days for s in SERIES), default=0)


def month_activity(user: User, township_id: int | None, as_of: dt.date,
                   days: int = DAYS) -> MonthActivity:
    """Each of the ``days`` days up to the as-of date: visits and stage moves on the leads the
    user's statistics count (one unit's, or every unit the user may see when ``township_id`` is
    None)."""
    first = as_of - dt.timedelta(days=days - 1)
    days = [Day(first + dt.timedelta(days=i)) for i in range(days)]
    visits = scoped(visits_by(Visit.visited_on, first, as_of), user, township_id)
    for on, n in db.session.execute(visits):
        days[(on - first).days].visits = int(n)
    moves = scoped(moves_by(StageChange.effective_on, first, as_of), user, township_id)
    for on, n in db.session.execute(moves):
        days[(on - first).days].moves = int(n)
    return MonthActivity(as_of, days)
