"""The scheduled jobs, declared in one list with stable ids (APScheduler 3, Asia/Shanghai).

A job only decides what is due and hands it to the dispatcher. The scheduler runs in
`crm scheduler` (production: one process) or inside `make run` when CRM_SCHEDULER=on; never in a
WSGI worker, and never twice under a reloader (`crm serve` runs without one).
"""

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

#: (id, function name in this module, trigger factory taking the timezone)
JOBS = [
    ("daily-follow-ups", "daily_job",
     lambda tz: CronTrigger(hour=8, minute=30, timezone=tz)),
    ("weekly-digest", "weekly_job",
     lambda tz: CronTrigger(day_of_week="mon", hour=8, minute=0, timezone=tz)),
    ("retry-pending", "retry_job",
     lambda tz: IntervalTrigger(minutes=10, timezone=tz)),
]


def _run(app, kind):
    from crm.db import today
    from crm.reminders import dispatch

    with app.app_context():
        if kind == "retry":
            result = dispatch.RunResult()
            dispatch.deliver(result)
        else:
            result = dispatch.run(kind, today())
        log.info("reminders %s: %s", kind, result.summary())


def daily_job(app):
    _run(app, "daily")  # skips holidays itself; 调休 Saturdays are workdays


def weekly_job(app):
    _run(app, "weekly")


def retry_job(app):
    _run(app, "retry")


def build(app, *, blocking: bool):
    """A scheduler with every job of JOBS, in the business timezone."""
    tz = app.config["CRM_TIMEZONE"]
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone=tz, job_defaults={"coalesce": True, "misfire_grace_time": 3600,
                                               "max_instances": 1})
    for job_id, func_name, trigger in JOBS:
        scheduler.add_job(globals()[func_name], trigger(tz), args=[app], id=job_id,
                          name=job_id, replace_existing=True)
    return scheduler
