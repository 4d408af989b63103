"""The scheduled work of the channels: each workday's follow-ups, and delivering what waits."""

import datetime as dt

from crm.channels import dispatch, messages
from crm.reminders.workdays import is_workday


def daily(as_of: dt.date) -> dispatch.RunResult | None:
    """Each unit's follow-ups due or overdue on ``as_of`` to its channels (None on a day off).
    Claimed once per channel and date: a second run, or a second process, sends nothing again."""
    if not is_workday(as_of):
        return None
    return dispatch.run_and_commit(messages.daily_messages(as_of))


def deliver_pending() -> dispatch.RunResult:
    """Send what is due (new messages, retries after their back-off); drop old send slots."""
    result = dispatch.RunResult()
    dispatch.deliver(result)
    dispatch.prune_sends()
    return result
