"""Fixtures of the statistics tests."""

import pytest

from crm.stats import cache


@pytest.fixture
def cache_today(monkeypatch):
    """Set the day the statistics cache takes as today (it stores rows only for as-of dates
    near today): ``cache_today(date)``. The tests' data are dated in 2025."""

    def set_day(day):
        monkeypatch.setattr(cache, "today", lambda: day)

    return set_day
