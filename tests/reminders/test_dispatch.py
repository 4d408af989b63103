"""Reminders against a real SMTP server (aiosmtpd on loopback): who, what, exactly once."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.reminders import dispatch
from crm.reminders.models import ReminderDispatch
from crm.visits.services import log_visit
from tests.conftest import wait_for
from tests.console import run_crm
from tests.mailserver import TUESDAY, Smtp, free_port  # noqa: F401 (Smtp: other modules import it from here)

CRM = str(Path(sys.executable).with_name("crm"))


@pytest.fixture
def app_config(smtp):
    return {"CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp.port,
            "CRM_SMTP_TIMEOUT": 5, "CRM_BASE_URL": "https://crm.example.gov.cn"}


def test_daily_goes_to_officers_with_follow_ups_due(app, smtp, due):
    result = dispatch.run("daily", TUESDAY)
    assert (result.sent, result.failed) == (2, 0)
    assert sorted(m["To"] for m in smtp.inbox.messages) == ["a-1@example.test", "a-2@example.test"]
    [mail] = smtp.inbox.to("a-1@example.test")
    text = mail.get_body(("plain",)).get_content()
    assert "逾期未跟进（1）" in text and "宠物食品生产基地" in text
    assert f"https://crm.example.gov.cn/leads/{due.lead_a.id}" in text
    assert "/reminders/unsubscribe/" in text and mail["List-Unsubscribe"]
    [mail2] = smtp.inbox.to("a-2@example.test")
    assert "今日需跟进（1）" in mail2.get_body(("plain",)).get_content()
    assert "智能机器人" in mail2.get_body(("html",)).get_content()


def test_a_second_run_of_the_same_period_sends_nothing(app, smtp, due):
    dispatch.run("daily", TUESDAY)
    again = dispatch.run("daily", TUESDAY)
    assert (again.sent, again.skipped) == (0, 2)
    assert len(smtp.inbox.messages) == 2
    # the next workday is another period
    assert dispatch.run("daily", TUESDAY + dt.timedelta(days=1)).sent == 2


def test_nothing_to_report_means_no_mail(app, smtp, world):
    assert dispatch.run("daily", TUESDAY).sent == 0
    assert smtp.inbox.messages == []


def test_preferences_are_honoured(app, smtp, due):
    due.off_a1.reminder_daily = False
    db.session.commit()
    dispatch.run("daily", TUESDAY)
    assert [m["To"] for m in smtp.inbox.messages] == ["a-2@example.test"]


def test_holiday_and_make_up_workday(app, smtp, due):
    national_day = dt.date(2026, 10, 1)
    make_up_saturday = dt.date(2026, 10, 10)  # 调休: a Saturday that is a workday
    holiday = dispatch.run("daily", national_day)
    assert holiday.not_workday and holiday.sent == 0
    assert dispatch.run("daily", dt.date(2026, 10, 11)).not_workday  # an ordinary Sunday
    due.lead_a.next_follow_up = dt.date(2026, 9, 30)
    due.lead_a2.next_follow_up = make_up_saturday
    db.session.commit()
    assert dispatch.run("daily", make_up_saturday).sent == 2


def test_smtp_down_loses_nothing_and_a_later_run_sends_the_missing(app, smtp, due):
    smtp.stop()
    down = dispatch.run("daily", TUESDAY)
    assert (down.sent, down.failed) == (0, 2)
    rows = db.session.scalars(sa.select(ReminderDispatch)).all()
    assert {r.status for r in rows} == {"pending"} and all(r.last_error for r in rows)
    smtp.start()
    back = dispatch.run("daily", TUESDAY)
    assert (back.sent, back.failed) == (2, 0)
    assert sorted(m["To"] for m in smtp.inbox.messages) == ["a-1@example.test", "a-2@example.test"]
    assert dispatch.run("daily", TUESDAY).sent == 0
    assert {r.status for r in db.session.scalars(sa.select(ReminderDispatch))} == {"sent"}


def test_scheduled_retry_waits_for_the_back_off(app, smtp, due):
    smtp.stop()
    dispatch.run("daily", TUESDAY)
    smtp.start()
    waiting = dispatch.RunResult()
    dispatch.deliver(waiting)  # what the retry job does: nothing is due yet
    assert waiting.sent == 0 and smtp.inbox.messages == []
    db.session.execute(sa.update(ReminderDispatch).values(
        next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    db.session.commit()
    later = dispatch.RunResult()
    dispatch.deliver(later)
    assert later.sent == 2


def test_weekly_digests(app, smtp, due):
    last_week = TUESDAY - dt.timedelta(days=7)
    log_visit(due.off_a1, due.lead_a, {"kind": "call", "summary": "电话回访", "visited_on": last_week})
    db.session.commit()
    dispatch.run("weekly", TUESDAY)
    recipients = sorted(m["To"] for m in smtp.inbox.messages)
    # officers with something to report, A's head, the admin; no viewer; unit B's only lead was
    # entered after TUESDAY, so b-head and b-1 have nothing to report as of then
    assert recipients == ["a-1@example.test", "a-2@example.test", "a-head@example.test",
                          "admin@example.test"]
    officer = smtp.inbox.to("a-1@example.test")[0].get_body(("plain",)).get_content()
    assert "逾期未跟进（1）" in officer and "登记了 1 次走访" in officer and "电话回访" in officer
    head = smtp.inbox.to("a-head@example.test")[0].get_body(("plain",)).get_content()
    assert "孟庄镇 本周项目情况" in head and "接触 1" in head  # lead_a2 entered after TUESDAY
    assert "上周没有走访记录的人员： a-2" in head
    admin = smtp.inbox.to("admin@example.test")[0].get_body(("plain",)).get_content()
    assert "孟庄镇" in admin and "税郭镇" in admin
    assert smtp.inbox.messages[0]["Subject"].endswith("2026-W48")


def test_mail_in_english_for_users_who_chose_it(app, smtp, due):
    due.off_a1.locale = "en"
    db.session.commit()
    dispatch.run("daily", TUESDAY)
    [mail] = smtp.inbox.to("a-1@example.test")
    assert "【招商 CRM】" not in mail["Subject"]
    assert "Overdue" in mail.get_body(("plain",)).get_content()


def test_dry_run_changes_nothing(app, smtp, due):
    result = dispatch.run("daily", TUESDAY, dry_run=True)
    assert sorted(d.user.username for d in result.planned) == ["a-1", "a-2"]
    assert smtp.inbox.messages == []
    assert db.session.scalar(sa.select(sa.func.count(ReminderDispatch.id))) == 0


@pytest.mark.slow  # two `crm` processes
def test_two_processes_send_each_mail_once(tmp_path, smtp, database_url, app, due):
    """Two real `crm reminders send` processes at once on the same database."""
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "CRM_SECRET_KEY": "test-secret",
           "CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1",
           "CRM_SMTP_PORT": str(smtp.port)}
    db.session.commit()
    db.session.remove()
    runs = [subprocess.Popen([CRM, "reminders", "send", "daily", "--as-of", TUESDAY.isoformat()],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert all(r.returncode == 0 for r in runs), "\n".join(e[-1500:] for _, e in outputs)
    assert sorted(m["To"] for m in smtp.inbox.messages) == ["a-1@example.test", "a-2@example.test"]
    sent = sorted(int(o.split("sent ")[1].split(",")[0]) for o, _ in outputs)
    assert sum(sent) == 2


def test_scheduler_jobs_and_next_runs_in_shanghai(app):
    from crm.reminders.scheduler import JOBS, build

    scheduler = build(app, blocking=False)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {job_id for job_id, *_ in JOBS}
        daily, weekly = jobs["daily-follow-ups"].next_run_time, jobs["weekly-digest"].next_run_time
        assert str(daily.tzinfo) == "Asia/Shanghai"
        assert (daily.hour, daily.minute) == (8, 30)
        assert (weekly.weekday(), weekly.hour, weekly.minute) == (0, 8, 0)
        warm = jobs["stats-warm"].next_run_time
        assert (str(warm.tzinfo), warm.hour, warm.minute) == ("Asia/Shanghai", 0, 5)
        assert jobs["daily-follow-ups"].coalesce and jobs["daily-follow-ups"].misfire_grace_time >= 600
    finally:
        scheduler.shutdown(wait=False)


def test_cli_send_and_bad_input(tmp_path, smtp):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env = {"CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x"}

    def crm(*args):
        return run_crm(*args, env=env, cwd=tmp_path)

    assert crm("db", "upgrade").returncode == 0
    ok = crm("reminders", "send", "weekly", "--as-of", "2026-11-23", "--dry-run")
    assert ok.returncode == 0 and "would send 0" in ok.stdout
    for bad in (("reminders", "send", "monthly"), ("reminders", "send", "daily", "--as-of", "x")):
        result = crm(*bad)
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr



def _first_lines(args, env, cwd, until, timeout=60):
    """Start a long-running command, read its output until ``until`` appears, then stop it."""
    import time

    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if until in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return "".join(lines)


@pytest.mark.slow  # a `crm scheduler` process
def test_crm_scheduler_runs_the_jobs_alone(tmp_path):
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}",
           "CRM_SECRET_KEY": "x"}
    out = _first_lines([CRM, "scheduler"], env, tmp_path, "retry-pending")
    assert "Asia/Shanghai" in out and "daily-follow-ups" in out and "weekly-digest" in out


@pytest.mark.slow  # a `crm serve` process
def test_serve_starts_the_scheduler_once_when_on(tmp_path):
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}",
           "CRM_SECRET_KEY": "x", "CRM_SCHEDULER": "on"}
    out = _first_lines([CRM, "serve", "--port", str(free_port())], env, tmp_path, "Running on")
    assert out.count("提醒调度已启动") == 1
    env["CRM_SCHEDULER"] = "off"
    out = _first_lines([CRM, "serve", "--port", str(free_port())], env, tmp_path, "Running on")
    assert "提醒调度已启动" not in out


@pytest.mark.slow  # a `crm serve` process, as `make run PORT=…` starts it
def test_mail_sent_by_a_served_app_links_to_the_port_it_serves(tmp_path, smtp):
    """`make run PORT=5611` (no CRM_BASE_URL): a mail the running server sends links to 5611."""
    import http.cookiejar
    import re
    import sqlite3
    import time
    import urllib.parse
    import urllib.request

    database = tmp_path / "served.sqlite3"
    env = {"CRM_DATABASE_URL": f"sqlite:///{database}", "CRM_SECRET_KEY": "x",
           "CRM_SCHEDULER": "off", "CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1",
           "CRM_SMTP_PORT": str(smtp.port)}
    assert run_crm("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert run_crm("seed-demo", env=env, cwd=tmp_path).returncode == 0
    with sqlite3.connect(database) as con:  # an officer's lead past 接触: he may ask to move it back
        lead_id, stage = con.execute(
            "SELECT leads.id, leads.stage FROM leads JOIN users ON users.id = primary_officer_id"
            " WHERE users.username = 'mengzhuang-1' AND leads.stage IN ('negotiation', 'signed')"
            " AND leads.merged_into_id IS NULL ORDER BY leads.id LIMIT 1").fetchone()
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k != "CRM_BASE_URL"}
    server = subprocess.Popen([CRM, "serve", "--port", str(port)], env={**environ, **env},
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

        def page(path, form=None):
            data = urllib.parse.urlencode(form).encode() if form is not None else None
            with opener.open(base + path, data=data, timeout=30) as response:
                return response.read().decode()

        deadline = time.monotonic() + 60
        while True:
            try:
                login = page("/login")
                break
            except OSError:
                assert time.monotonic() < deadline, server.stdout.read()
                time.sleep(0.2)

        def token(html):
            return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

        page("/login", {"csrf_token": token(login), "username": "mengzhuang-1",
                        "password": "zhaoshang2026"})
        lead_page = page(f"/leads/{lead_id}")
        previous = {"negotiation": "contact", "signed": "negotiation"}[stage]
        page(f"/leads/{lead_id}/move-back-request", {
            "csrf_token": token(lead_page), "to_stage": previous, "reason": "投资方要求重新商谈"})
        wait_for(lambda: smtp.inbox.messages, timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=10)
    body = smtp.inbox.messages[0].get_body(("plain",)).get_content()
    assert f"{base}/" in body and ":5000" not in body, body
