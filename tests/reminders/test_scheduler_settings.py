"""A reminder time or day that cannot be used stops `crm scheduler` before it starts: one Chinese
line naming the setting and its value, exit code 2, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm.reminders.cli import scheduler

CRM = str(Path(sys.executable).with_name("crm"))


@pytest.mark.slow  # a `crm scheduler` process each: in this one, a regression would not stop
@pytest.mark.parametrize("name, value", [
    ("CRM_DAILY_REMINDER_TIME", "25:00"),
    ("CRM_WEEKLY_REMINDER_TIME", "8h30"),
    ("CRM_DAILY_REMINDER_TIME", ""),
    ("CRM_DAILY_REMINDER_TIME", "８:３０"),  # full-width digits, typed in a Chinese IME
])
def test_crm_scheduler_refuses_a_bad_time_in_one_line(tmp_path, name, value):
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}",
           "CRM_SECRET_KEY": "x", name: value}
    try:
        result = subprocess.run([CRM, "scheduler"], env=env, capture_output=True, text=True,
                                timeout=60, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scheduler started with {name}={value!r}")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and f"“{value}”" in lines[0] and "HH:MM" in lines[0]
    assert "无效" in lines[0]
    assert "scheduler started" not in result.stdout


@pytest.mark.parametrize("name, value, expected", [
    ("CRM_WEEKLY_REMINDER_TIME", "24:00", "HH:MM"),
    ("CRM_DAILY_REMINDER_TIME", "08:60", "HH:MM"),
    ("CRM_WEEKLY_REMINDER_DAY", "funday", "mon"),
])
def test_the_scheduler_command_names_the_bad_setting(app, runner, name, value, expected):
    app.config[name] = value
    result = runner.invoke(scheduler)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert name in result.output and value in result.output and expected in result.output
    assert "scheduler started" not in result.output


def test_good_times_still_build_every_job(app):
    from crm.reminders.scheduler import build

    app.config.update(CRM_DAILY_REMINDER_TIME="7:05", CRM_WEEKLY_REMINDER_TIME="23:59",
                      CRM_WEEKLY_REMINDER_DAY="mon-fri")
    jobs = {job.id: str(job.trigger) for job in build(app, blocking=False).get_jobs()}
    assert "hour='7', minute='5'" in jobs["daily-follow-ups"]
    assert "day_of_week='mon-fri', hour='23', minute='59'" in jobs["weekly-digest"]
