"""The automatic run: a red project gets a yellow order, an overdue order escalates one level,
exactly once per lead, level and day, across a simulated month and with two schedulers."""

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from crm.clock import today
from crm.extensions import db
from crm.supervision.cli import supervision as supervision_cli
from crm.supervision.models import SupervisionOrder
from crm.supervision.services import DUE_WORKDAYS, add_workdays, run_and_commit
from tests.supervision.conftest import in_threads, red_lead

#: A simulated month of runs, schedulers in threads and processes: `make test` runs these.
pytestmark = pytest.mark.slow

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a Monday


def _orders():
    db.session.rollback()
    return db.session.scalars(sa.select(SupervisionOrder).order_by(SupervisionOrder.id)).all()


def test_a_simulated_month_of_runs(app, sw, runner):
    with time_machine.travel(START, tick=False):
        lead = red_lead(sw)
        red_lead(sw, name="按期项目", overdue_days=-5)  # not overdue: blue, no order
    first = START.date()
    seen = []
    for offset in range(0, 32):
        with time_machine.travel(START + dt.timedelta(days=offset), tick=False):
            day = today()
            run_and_commit(day)
            run_and_commit(day)  # a second run the same day changes nothing
            if offset % 7 == 3:  # and the command line, as a third scheduler would
                result = runner.invoke(supervision_cli, ["run", "--as-of", day.isoformat()])
                assert result.exit_code == 0, result.output
            seen.append([(o.level, o.status) for o in _orders()])
    orders = _orders()
    yellow_due = add_workdays(first, DUE_WORKDAYS)
    red_on = yellow_due + dt.timedelta(days=1)
    red_due = add_workdays(red_on, DUE_WORKDAYS)
    talk_on = red_due + dt.timedelta(days=1)
    assert talk_on <= first + dt.timedelta(days=31)
    assert [(o.lead_id, o.level, o.issued_on, o.number) for o in orders] == [
        (lead.id, "yellow", first, 1), (lead.id, "red", red_on, 2), (lead.id, "talk", talk_on, 3)]
    assert [o.status for o in orders] == ["closed", "closed", "open"]
    assert orders[1].escalated_from_id == orders[0].id
    assert orders[2].escalated_from_id == orders[1].id
    assert orders[1].due_on == red_due
    assert "升级" in orders[0].closed_note and orders[1].number_text in orders[0].closed_note
    assert all(o.automatic for o in orders)
    # on the day before the escalation only the yellow order existed, still open
    assert seen[(yellow_due - first).days] == [("yellow", "open")]


def test_an_answered_order_does_not_escalate_and_a_closed_one_waits_thirty_days(app, sw, api):
    with time_machine.travel(START, tick=False):
        lead = red_lead(sw)
        run_and_commit(today())
        order = _orders()[0]
        assert api("POST", f"/supervision/{order.id}/answers", user="a-1",
                   json={"text": "正在办理"}).status_code == 200
    with time_machine.travel(START + dt.timedelta(days=20), tick=False):
        run_and_commit(today())
        assert [(o.level, o.status) for o in _orders()] == [("yellow", "answered")]
        assert api("POST", f"/supervision/{order.id}/close", json={"note": "办结"}).status_code == 200
    with time_machine.travel(START + dt.timedelta(days=29), tick=False):
        run_and_commit(today())  # still red, but an order was issued within 30 days
        assert len(_orders()) == 1
    with time_machine.travel(START + dt.timedelta(days=31), tick=False):
        run_and_commit(today())
        orders = _orders()
        assert [(o.level, o.status, o.lead_id) for o in orders] == [
            ("yellow", "closed", lead.id), ("yellow", "open", lead.id)]


def test_two_schedulers_at_once_issue_each_order_once(app, sw):
    with time_machine.travel(START, tick=False):
        leads = [red_lead(sw, name=f"红色项目{i}") for i in range(4)]
    day = START.date()
    in_threads(app, 2, lambda i: run_and_commit(day))
    orders = _orders()
    assert sorted(o.lead_id for o in orders) == sorted(lead.id for lead in leads)
    assert sorted(o.number for o in orders) == [1, 2, 3, 4]
    later = add_workdays(day, DUE_WORKDAYS) + dt.timedelta(days=1)
    in_threads(app, 2, lambda i: run_and_commit(later))
    orders = _orders()
    assert sorted((o.level, o.status) for o in orders) == [("red", "open")] * 4 + [
        ("yellow", "closed")] * 4
    assert sorted(o.number for o in orders) == list(range(1, 9))


def test_talk_orders_are_mailed_to_viewers_once_and_weekly_mails_list_open_orders(app, sw, smtp):
    from crm.reminders import dispatch
    from crm.reminders.models import ReminderDispatch
    from crm.supervision.services import issue_order

    app.config.update(CRM_MAIL_BACKEND="smtp", CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=smtp.port)
    with time_machine.travel(START, tick=False):
        lead = red_lead(sw)
        order = issue_order(sw.admin, lead, "red", "用地未落实")
        db.session.commit()
    later = START + dt.timedelta(days=30)
    for _run in range(2):
        with time_machine.travel(later, tick=False):
            run_and_commit(today())
    rows = db.session.scalars(sa.select(ReminderDispatch).where(
        ReminderDispatch.kind == "supervision")).all()
    assert [(r.user_id, r.status) for r in rows] == [(sw.viewer.id, "sent")]
    talk = _orders()[-1]
    assert (talk.level, talk.escalated_from_id) == ("talk", order.id)
    to_viewer = smtp.inbox.to("viewer@example.test")
    assert len(to_viewer) == 1
    assert talk.number_text in str(to_viewer[0]["Subject"])
    # the weekly mails: the unit's head and the officer carrying the lead hear of it
    monday = (later + dt.timedelta(days=7 - later.weekday())).date()
    dispatch.run("weekly", monday)
    weekly = {r.user.username: _text(r.message) for r in db.session.scalars(
        sa.select(ReminderDispatch).where(ReminderDispatch.kind == "weekly"))}
    for username in ("a-head", "a-1", "admin"):
        assert talk.number_text in weekly[username], username
    assert talk.number_text not in weekly.get("b-head", "")


def _text(raw: str) -> str:
    from email import message_from_string, policy

    return message_from_string(raw, policy=policy.default).get_body(("plain",)).get_content()


def test_two_scheduler_processes_issue_each_order_once(app, sw, database_url, tmp_path):
    """Two real `crm supervision run` processes at once on the same database."""
    import os
    import subprocess
    import sys

    with time_machine.travel(START, tick=False):
        lead_ids = sorted(red_lead(sw, name=f"进程项目{i}").id for i in range(5))
    db.session.commit()
    db.session.remove()
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "CRM_SECRET_KEY": "test-secret",
           "CRM_MAIL_BACKEND": "file", "CRM_VERIFICATION": "off"}
    day = START.date()
    command = [sys.executable, "-c", "from crm.cli import main; main()", "supervision", "run",
               "--as-of", day.isoformat()]
    runs = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=180) for r in runs]
    assert all(r.returncode == 0 for r in runs), "\n".join(e[-2000:] for _, e in outputs)
    orders = _orders()
    assert sorted(o.lead_id for o in orders) == lead_ids
    assert sorted(o.number for o in orders) == [1, 2, 3, 4, 5]
    issued = sum(int(out.split("新下发 ")[1].split("，")[0]) for out, _ in outputs)
    assert issued == 5
