"""Delivery to the fake robots, on SQLite and PostgreSQL: once per channel, kind and period; two
schedulers; a vendor down then back; the per-minute limit; the vendors' formats and answers."""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from crm.channels import dispatch, jobs, messages
from crm.channels.models import ChannelDispatch, ChannelSend
from crm.claims import services as claim_services
from crm.clock import utcnow
from crm.extensions import db
from tests import factories
from tests.channels.conftest import KEYWORD
from tests.mailserver import TUESDAY

#: Real robots, timeouts, retries and processes: `make test` runs these, `make check` does not.
pytestmark = pytest.mark.slow


@pytest.fixture
def due(cw):
    """Unit a: lead_a (a-1) overdue by 4 days, lead_a2 (a-2) due on TUESDAY; unit b: nothing."""
    cw.lead_a.next_follow_up = TUESDAY - dt.timedelta(days=4)
    cw.lead_a2.next_follow_up = TUESDAY
    db.session.commit()
    return cw


def rows(**where):
    stmt = sa.select(ChannelDispatch).order_by(ChannelDispatch.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(ChannelDispatch, name) == value)
    return db.session.scalars(stmt).all()


def test_daily_follow_ups_go_once_to_each_unit_channel_with_mentions(app, due, robot):
    result = jobs.daily(TUESDAY)
    assert (result.claimed, result.sent, result.failed) == (2, 2, 0)
    assert robot.refused == []
    by_key = {r.key: r for r in robot.received}
    assert set(by_key) == {"wecom-a", "ding-a"}  # unit b has nothing due; the district no daily
    wecom = by_key["wecom-a"].body
    assert wecom["msgtype"] == "text"  # WeCom @-mentions by mobile only in text messages
    assert wecom["text"]["mentioned_mobile_list"] == ["13800000001", "13900000002"]
    assert "宠物食品生产基地" in wecom["text"]["content"] and "逾期 4 天" in wecom["text"]["content"]
    assert "智能机器人" in wecom["text"]["content"]
    ding = by_key["ding-a"].body
    assert ding["msgtype"] == "markdown" and ding["at"]["atMobiles"] == ["13800000001", "13900000002"]
    assert "@13800000001" in ding["markdown"]["text"] and KEYWORD in ding["markdown"]["text"]
    assert "timestamp" in by_key["ding-a"].query and "sign" in by_key["ding-a"].query

    again = jobs.daily(TUESDAY)  # a second run (the scheduler and a manual run): nothing twice
    assert (again.claimed, again.sent, again.skipped) == (0, 0, 2)
    assert len(robot.received) == 2
    assert {r.status for r in rows()} == {"sent"}


def test_no_daily_message_on_a_day_off(app, due, robot):
    assert jobs.daily(dt.date(2026, 11, 29)) is None  # a Sunday
    assert robot.received == [] and rows() == []


def test_two_schedulers_at_once_send_each_message_once(app, due, robot):
    """Two threads, each with its own app context and session (as two processes would have)."""
    barrier = threading.Barrier(2)
    results, errors = [], []

    def scheduler():
        try:
            with app.app_context():
                barrier.wait()
                results.append(jobs.daily(TUESDAY))
                results.append(jobs.deliver_pending())
                db.session.remove()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(r.key for r in robot.received) == ["ding-a", "wecom-a"]
    assert sum(r.sent for r in results) == 2
    assert sum(r.claimed for r in results) == 2
    db.session.rollback()
    assert [r.status for r in rows()] == ["sent", "sent"]


def test_a_vendor_down_loses_nothing_and_the_next_run_sends_exactly_the_missing(app, due, robot):
    robot.stop()
    first = jobs.daily(TUESDAY)
    assert (first.claimed, first.sent, first.failed) == (2, 0, 2)
    assert all("network" in e or "refused" in e.lower() for e in first.errors)
    failed = rows()
    assert all(r.status == "pending" and r.last_error and r.next_attempt_at for r in failed)

    # Back up; a retry before the back-off has passed sends nothing yet.
    robot.restart()
    assert jobs.deliver_pending().sent == 0
    db.session.execute(sa.update(ChannelDispatch).values(next_attempt_at=None))
    db.session.commit()
    # The next day's run sends the missing ones (exactly once) along with its own.
    cw = due
    cw.lead_b.next_follow_up = TUESDAY
    db.session.commit()
    second = jobs.daily(TUESDAY + dt.timedelta(days=1))
    assert second.failed == 0
    keys = sorted((r.key, r.body.get("msgtype")) for r in robot.received)
    assert [k for k, _ in keys].count("wecom-a") == 2  # Tuesday's (retried) and Wednesday's
    assert [k for k, _ in keys].count("ding-a") == 2
    assert [k for k, _ in keys].count("wecom-b") == 1
    assert len(robot.received) == 5
    assert {r.status for r in rows()} == {"sent"}
    assert jobs.deliver_pending().sent == 0 and len(robot.received) == 5


def test_vendor_errors_are_failures_with_the_vendors_message(app, due, robot):
    robot.mode = "error"
    result = jobs.daily(TUESDAY)
    assert result.failed == 2
    assert all("errcode 93000: invalid webhook url" in r.last_error for r in rows())
    robot.mode = "ok"
    retried = dispatch.retry_now_and_commit([r.id for r in rows()])
    assert retried.sent == 2 and len(robot.received) == 2


@pytest.mark.parametrize("mode, expected", [
    ("hang", "timeout"), ("redirect", "redirect not followed"), ("http500", "HTTP 500"),
    ("ratelimit", "errcode 130101")])
def test_hangs_redirects_and_vendor_limits_fail_and_are_retried(app, due, robot, mode, expected):
    robot.mode = mode
    robot.hang_seconds = 2.5
    result = jobs.daily(TUESDAY)
    assert result.failed == 2 and result.sent == 0
    assert all(expected in r.last_error for r in rows())
    assert robot.received == []


def test_at_most_20_messages_a_minute_per_robot(app, cw, robot):
    many = [dispatch.Message(cw.district.id, "supervision", f"order-{n}", f"督办{n}", f"督办 {n}")
            for n in range(25)]
    result = dispatch.run_and_commit(many)
    assert (result.claimed, result.sent, result.waiting) == (25, 20, 5)
    assert len(robot.received) == 20
    waiting = rows(status="pending")
    assert len(waiting) == 5 and all(r.last_error == "" and r.attempts == 0 for r in waiting)
    # A minute later (the slots' times moved back a minute) the rest go.
    db.session.execute(sa.update(ChannelSend).values(at=utcnow() - dt.timedelta(seconds=61)))
    db.session.execute(sa.update(ChannelDispatch).values(next_attempt_at=None))
    db.session.commit()
    assert jobs.deliver_pending().sent == 5
    assert len(robot.received) == 25 and {r.status for r in rows()} == {"sent"}


def test_a_reviewed_claim_goes_to_its_units_channels_after_the_commit(app, cw, robot):
    reviewer = factories.user("reviewer", "reviewer")
    lead = factories.lead(cw.off_a1, cw.a, name="核验项目", stage="signed",
                          primary_officer_id=cw.off_a1.id)
    claim_id = lead.claims[0].id
    db.session.commit()
    claim_services.review(reviewer, lead.claims[0], "return", "缺少合同")
    db.session.rollback()  # a change rolled back sends nothing
    assert rows() == []
    claim = db.session.get(type(lead.claims[0]), claim_id)
    claim_services.review(reviewer, claim, "return", "缺少合同")
    db.session.commit()
    assert len(rows(kind="claim")) == 2  # unit a's two channels; not unit b's, not the district's
    assert jobs.deliver_pending().sent == 2
    assert sorted(r.key for r in robot.received) == ["ding-a", "wecom-a"]
    assert all("缺少合同" in r.text and "13800000001" in str(r.body) for r in robot.received)
    assert jobs.deliver_pending().sent == 0


def test_bulletin_and_supervision_builders_enqueue_once(app, cw, robot):
    assert messages.bulletin_published({"id": 7, "as_of": TUESDAY}) == 1  # the district's channel
    assert messages.bulletin_published({"id": 7, "as_of": TUESDAY}) == 0
    order = {"id": 3, "township_id": cw.a.id, "level": "talk", "level_label": "约谈",
             "reason": "开工滞后", "lead_id": cw.lead_a.id, "lead_name": cw.lead_a.name,
             "due_on": TUESDAY, "officer_ids": [cw.off_a1.id]}
    assert messages.supervision_event(order, "issued") == 3  # unit a's two and the district's
    assert messages.supervision_event(order, "issued") == 0
    assert messages.supervision_event({**order, "level": "notice"}, "escalated") == 2
    db.session.commit()
    assert jobs.deliver_pending().sent == 6
    assert robot.refused == []
    bulletin = [r for r in robot.received if "红黄蓝通报" in r.text]
    assert len(bulletin) == 1 and bulletin[0].key == "ding-district"
    assert "/bulletins/7" in bulletin[0].text


@pytest.mark.slow
def test_two_scheduler_processes_send_each_message_once(app, due, robot, database_url, tmp_path):
    """Two real `crm channels send` processes started together on the same database."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    db.session.commit()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "CRM_DATABASE_URL": database_url,
           "CRM_SECRET_KEY": "test-secret",
           "CRM_WEBHOOK_ALLOWED_HOSTS": "qyapi.weixin.qq.com,oapi.dingtalk.com,127.0.0.1"}
    command = [sys.executable, "-c", "from crm.cli import main; main()", "channels", "send",
               "--as-of", TUESDAY.isoformat()]
    processes = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert sorted(r.key for r in robot.received) == ["ding-a", "wecom-a"]
    assert robot.refused == []
    db.session.rollback()
    assert [r.status for r in rows()] == ["sent", "sent"]


def test_an_issued_order_and_a_published_bulletin_reach_the_robots(app, cw, robot):
    """The real services, not the builders: their signals queue the messages in their own
    transaction; a rolled-back order queues nothing."""
    from crm.bulletin import issues
    from crm.supervision import services as supervision

    supervision.issue_order(cw.admin, cw.lead_a, "yellow", "开工滞后")
    db.session.rollback()
    assert jobs.deliver_pending().sent == 0

    order = supervision.issue_order(cw.admin, cw.lead_a, "talk", "开工滞后")
    issue = issues.publish(cw.admin, TUESDAY)
    db.session.commit()
    assert jobs.deliver_pending().sent == 4  # the order: unit a's two and the district's; issue
    texts = [r.text for r in robot.received]
    assert sum("开工滞后" in t for t in texts) == 3
    assert sum(f"/bulletins/{issue.id}" in t for t in texts) == 1
    assert all(f"/supervision/{order.id}" in t for t in texts if "开工滞后" in t)
    assert jobs.deliver_pending().sent == 0
