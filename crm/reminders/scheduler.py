"""The scheduled jobs, declared in one list with stable ids (APScheduler 3, Asia/Shanghai).

A job only decides what is due and hands it to the dispatcher. The scheduler runs in
`crm scheduler` (production: one process) or inside `make run` when CRM_SCHEDULER=on; never in a
WSGI worker, and never twice under a reloader (`crm serve` runs without one).
"""

import logging
import re

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask_babel import lazy_gettext as _l

from crm.config import DEFAULTS

log = logging.getLogger(__name__)

#: The settings of the reminder times, with their defaults from crm/config.py.
DAILY_TIME = ("CRM_DAILY_REMINDER_TIME", DEFAULTS["CRM_DAILY_REMINDER_TIME"])
WEEKLY_TIME = ("CRM_WEEKLY_REMINDER_TIME", DEFAULTS["CRM_WEEKLY_REMINDER_TIME"])
WEEKLY_DAY = ("CRM_WEEKLY_REMINDER_DAY", DEFAULTS["CRM_WEEKLY_REMINDER_DAY"])

#: (id, function name in this module, trigger factory taking the timezone and the settings)
JOBS = [
    ("daily-follow-ups", "daily_job",
     lambda tz, cfg: CronTrigger(**_time(cfg, DAILY_TIME), timezone=tz)),
    ("weekly-digest", "weekly_job",
     lambda tz, cfg: CronTrigger(day_of_week=_day(cfg, WEEKLY_DAY), **_time(cfg, WEEKLY_TIME),
                                 timezone=tz)),
    # After the daily reminders (and the weekly ones): 督办 orders, once per lead, level and day.
    ("supervision-run", "supervision_job",
     lambda tz, cfg: CronTrigger(**_after(_time(cfg, DAILY_TIME), minutes=15), timezone=tz)),
    ("retry-pending", "retry_job",
     lambda tz, cfg: IntervalTrigger(minutes=10, timezone=tz)),
    # The group robots' messages: new ones (a claim reviewed, a bulletin published) and retries.
    ("channels-deliver", "channels_deliver_job",
     lambda tz, cfg: IntervalTrigger(minutes=1, timezone=tz)),
    # Not a reminder: the day's statistics computed before anyone asks (crm/stats/cache.py).
    ("stats-warm", "stats_warm_job",
     lambda tz, cfg: CronTrigger(hour=0, minute=5, timezone=tz)),
    # Not a reminder: import uploads never confirmed (crm/imports/uploads.py).
    ("uploads-prune", "uploads_prune_job",
     lambda tz, cfg: IntervalTrigger(hours=1, timezone=tz)),
    # Not a reminder: the sign-in log's retention and the API rate limit's ended windows.
    ("prune-auth-logs", "prune_auth_job",
     lambda tz, cfg: IntervalTrigger(hours=1, timezone=tz)),
]

#: "HH:MM" (or "HH:MM:SS"), 00:00 to 23:59; ASCII digits only.
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?", re.ASCII)


class SettingError(ValueError):
    """A scheduler setting whose value cannot be used: the message names both, in Chinese."""

    def __init__(self, name: str, value, message):
        super().__init__(str(message))
        self.name = name
        self.value = value
        self.message = message


def _at(value: str) -> dict:
    """ "HH:MM" or "HH:MM:SS" as cron fields; ValueError for anything else ("25:00", "8h30", "")."""
    match = _TIME.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(value)
    hour, minute, second = match.groups()
    return {"hour": int(hour), "minute": int(minute), "second": int(second or 0)}


def _time(cfg, setting: tuple[str, str]) -> dict:
    name, default = setting
    value = cfg.get(name, default)
    try:
        return _at(value)
    except ValueError:
        raise SettingError(name, value, _l(
            "设置 %(name)s 的值无效：“%(value)s”（应为 HH:MM，00:00 至 23:59）",
            name=name, value=value)) from None


def _after(at: dict, *, minutes: int) -> dict:
    """A cron time ``minutes`` after ``at`` (the same day, at most 23:59)."""
    total = min(at["hour"] * 60 + at["minute"] + minutes, 23 * 60 + 59)
    return {"hour": total // 60, "minute": total % 60, "second": at["second"]}


def _day(cfg, setting: tuple[str, str]) -> str:
    name, default = setting
    value = cfg.get(name, default)
    try:
        CronTrigger(day_of_week=value, timezone="UTC")
    except (ValueError, TypeError):
        raise SettingError(name, value, _l(
            "设置 %(name)s 的值无效：“%(value)s”（应为 mon、tue、wed、thu、fri、sat 或 sun）",
            name=name, value=value)) from None
    return value


def check_settings(cfg) -> None:
    """SettingError for the first reminder setting that cannot be used; before anything starts."""
    _time(cfg, DAILY_TIME)
    _time(cfg, WEEKLY_TIME)
    _day(cfg, WEEKLY_DAY)


def _run(app, kind):
    from crm.clock import today
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
    _run(app, "review")  # reviewers: claims pending more than 5 workdays
    channels_daily_job(app)  # the units' group robots, after the mail


def channels_daily_job(app):
    from crm.channels import jobs
    from crm.clock import today

    with app.app_context():
        result = jobs.daily(today())
        log.info("channels daily: %s", result.summary() if result else "not a workday")


def channels_deliver_job(app):
    from crm.channels import jobs

    with app.app_context():
        result = jobs.deliver_pending()
        if result.sent or result.failed:
            log.info("channels: %s", result.summary())


def supervision_job(app):
    """After the daily reminders: the automatic issue and escalation of supervision orders."""
    from crm.clock import today
    from crm.reminders.workdays import is_workday
    from crm.supervision.services import run_and_commit

    with app.app_context():
        if is_workday(today()):
            result = run_and_commit(today())
            log.info("supervision: %s", result.summary())


def weekly_job(app):
    _run(app, "weekly")


def retry_job(app):
    _run(app, "retry")


def stats_warm_job(app):
    from crm.clock import today
    from crm.extensions import db
    from crm.stats.queries import warm

    with app.app_context():
        units = warm(today())
        db.session.commit()
        log.info("statistics cache: %d units ready for %s", units, today())


def uploads_prune_job(app):
    from crm.imports import uploads

    with app.app_context():
        uploads.prune()


def prune_auth_job(app):
    from crm.auth import ratecount, throttle
    from crm.extensions import db

    with app.app_context():
        attempts, windows = throttle.prune_log(), ratecount.prune()
        db.session.commit()
        log.info("pruned %d sign-in attempts and %d rate-limit windows", attempts, windows)


def build(app, *, blocking: bool):
    """A scheduler with every job of JOBS, in the business timezone.

    SettingError (nothing built, nothing started) when a reminder time or day is not usable.
    """
    check_settings(app.config)
    tz = app.config["CRM_TIMEZONE"]
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone=tz, job_defaults={"coalesce": True, "misfire_grace_time": 3600,
                                               "max_instances": 1})
    for job_id, func_name, trigger in JOBS:
        scheduler.add_job(globals()[func_name], trigger(tz, app.config), args=[app], id=job_id,
                          name=job_id, replace_existing=True)
    return scheduler
