"""Chinese workdays: public holidays off, make-up workdays (调休) on, from chinesecalendar."""

import datetime as dt

import chinese_calendar


def is_workday(day: dt.date) -> bool:
    """Whether ``day`` is a workday in mainland China; plain weekdays beyond the library's years."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5
