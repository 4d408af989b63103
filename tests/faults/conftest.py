"""Fixtures shared by the fault tests: the reminder world of tests/reminders (not duplicated)."""

from tests.reminders.test_dispatch import due  # noqa: F401 (a fixture: a-1 and a-2 have follow-ups due)
