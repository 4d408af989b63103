"""Several app servers on one PostgreSQL database, and two schedulers at once (issue 7).

Two gunicorn instances on different ports share the database: writes spread over both are all
kept. Two `crm scheduler` processes fire the same reminder job at the same moment: each reminder
reaches the SMTP server (aiosmtpd on loopback) exactly once.
"""

import datetime as dt
import email
import subprocess
import time
from collections import Counter
from email import policy
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from benchmarks import harness

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def pg_url(pg_server_url):
    with harness.postgres_database(pg_server_url, prefix="crm_scale") as url:
        harness.prepare_database(url)
        yield url


def test_two_servers_share_one_database(pg_url, tmp_path):
    accounts = harness.accounts(pg_url)
    before = harness.snapshot(pg_url)
    with harness.Gunicorn(pg_url, workers=1, threads=4, log_dir=tmp_path) as one, \
            harness.Gunicorn(pg_url, workers=1, threads=4, log_dir=tmp_path) as two:
        assert one.port != two.port
        outcomes, _ = harness.run_clients([one.url, two.url], accounts, users=8, seconds=8,
                                          write_share=0.5, seed=7)
        # A session signed in on one server is good on the other (one secret key, one database).
        for server in (one, two):
            assert harness.httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    writes = [o for o in outcomes if o.kind in harness.WRITE_KINDS]
    assert not harness.errors(outcomes)
    assert writes and {o.status for o in outcomes} <= {200, 201, 409}
    check = harness.verify(pg_url, outcomes, before)
    assert check.ok, (check.lost[:5], check.problems[:5])
    assert sum(check.found.values()) == sum(check.acknowledged.values()) > 0


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def test_two_schedulers_send_each_reminder_once(pg_url, tmp_path):
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=harness.free_port())
    smtp.start()
    # Both schedulers fire the weekly digest (and on a workday the daily one) at the same second.
    fire = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(seconds=20)).replace(microsecond=0)
    env = harness.crm_env(
        pg_url, CRM_MAIL_BACKEND="smtp", CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=smtp.port,
        CRM_WEEKLY_REMINDER_DAY=fire.strftime("%a").lower(),
        CRM_WEEKLY_REMINDER_TIME=fire.strftime("%H:%M:%S"),
        CRM_DAILY_REMINDER_TIME=fire.strftime("%H:%M:%S"))
    logs = [open(tmp_path / f"scheduler-{n}.log", "wb") for n in range(2)]  # noqa: SIM115
    schedulers = [subprocess.Popen([str(harness.VENV_BIN / "crm"), "scheduler"], env=env,
                                   cwd=harness.ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True) for log in logs]
    engine = sa.create_engine(pg_url)
    try:
        deadline = time.monotonic() + 120
        settled_since = None
        while time.monotonic() < deadline:
            assert all(p.poll() is None for p in schedulers), _logs(tmp_path)
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT status, COUNT(*) FROM reminder_dispatches GROUP BY status")).all()
            counts = dict(rows)
            done = counts and not counts.get("pending") and len(inbox.messages) >= counts.get("sent", 0)
            settled_since = (settled_since or time.monotonic()) if done else None
            if settled_since and time.monotonic() - settled_since > 5:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"reminders not all sent: {counts}, {len(inbox.messages)} received\n"
                        + _logs(tmp_path))
    finally:
        for p in schedulers:
            p.terminate()
        for p in schedulers:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()
        smtp.stop()
        engine.dispose()

    # Both were running with the job due at the same second (each prints its triggers on start).
    for n in range(2):
        text = (tmp_path / f"scheduler-{n}.log").read_text(errors="replace")
        assert "weekly-digest" in text and f"second='{fire.second}'" in text, text
    with engine.connect() as conn:
        sent = conn.execute(sa.text(
            "SELECT user_id, kind, period FROM reminder_dispatches WHERE status = 'sent'")).all()
    engine.dispose()
    ids = Counter(m["Message-ID"] for m in inbox.messages)
    per_recipient = Counter((m["To"], m["Subject"]) for m in inbox.messages)
    print(f"\n{len(sent)} reminders claimed, {len(inbox.messages)} delivered by two schedulers")
    assert any(kind == "weekly" for _, kind, _ in sent)
    assert len(inbox.messages) == len(sent) > 0
    assert max(ids.values()) == 1 and max(per_recipient.values()) == 1


def _logs(tmp_path):
    return "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(tmp_path.glob("scheduler-*")))
