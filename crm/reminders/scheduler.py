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

#: (id, function name in this module, trigger factory taking the timezone and the settings)
JOBS = [
    ("daily-follow-ups", "daily_job",
     lambda tz, cfg: CronTrigger(**_at(cfg.get("CRM_DAILY_REMINDER_TIME", "08:30")), timezone=tz)),
    ("weekly-digest", "weekly_job",
     lambda tz, cfg: CronTrigger(day_of_week=cfg.get("CRM_WEEKLY_REMINDER_DAY", "mon"),
                                 **_at(cfg.get("CRM_WEEKLY_REMINDER_TIME", "08:00")), timezone=tz)),
    ("retry-pending", "retry_job",
     lambda tz, cfg: IntervalTrigger(minutes=10, timezone=tz)),
]


def _at(value: str) -> dict:
    """ "HH:MM" or "HH:MM:SS" as cron fields; a bad value stops the scheduler with a clear error."""
    parts = str(value).strip().split(":")
    try:
        numbers = [int(p) for p in parts]
        if len(numbers) not in (2, 3):
            raise ValueError(value)
        hour, minute, second = (numbers + [0])[:3]
        if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
            raise ValueError(value)
    except ValueError as exc:
        raise ValueError(f"提醒时间格式应为 HH:MM：{value}") from exc
    return {"hour": hour, "minute": minute, "second": second}


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
        scheduler.add_job(globals()[func_name], trigger(tz, app.config), args=[app], id=job_id,
                          name=job_id, replace_existing=True)
    return scheduler
