"""The mail server refusing, hanging or answering 421: nothing lost, web pages unaffected, and each
mail delivered exactly once when a real server (aiosmtpd) is back on the same port."""

import threading
import time

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from crm.extensions import db
from crm.reminders import dispatch
from crm.reminders.models import ReminderDispatch
from tests.faults.netfaults import ScriptedSmtp, SilentServer, free_port
from tests.mailserver import TUESDAY, Smtp

TIMEOUT = 1  # CRM_SMTP_TIMEOUT in these tests (the default is 20 s)
RECIPIENTS = ["a-1@example.test", "a-2@example.test"]  # whom `due` gives a daily reminder

pytestmark = pytest.mark.timeout(60)


class Refuse421AtData:
    """aiosmtpd takes the envelope, then answers the message with 421 (a server shutting down)."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        return "421 4.3.2 Service not available, closing transmission channel"


class Aiosmtpd421:
    def __init__(self, port):
        self.port = port
        self.controller = Controller(Refuse421AtData(), hostname="127.0.0.1", port=port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


#: kind → (the server that misbehaves on the port, or None for nothing listening; what the error
#: stored on each row must say; whether it is a hang that only the timeout ends)
FAULTS = {
    "refused": (None, "Connection refused", False),
    "hang-at-greeting": (SilentServer, "timed out", True),
    "stall-after-data": (lambda port: ScriptedSmtp("data-stall", port), "timed out", True),
    "421-at-connect": (lambda port: ScriptedSmtp("connect", port), "421", False),
    "421-at-ehlo": (lambda port: ScriptedSmtp("ehlo", port), "421", False),
    "421-at-data": (Aiosmtpd421, "421", False),
}
TALLY = {"kinds": set(), "pending": 0, "delivered": 0}


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    if TALLY["kinds"]:
        print(f"\nsmtp faults: {len(TALLY['kinds'])} kinds injected ({', '.join(sorted(TALLY['kinds']))}), "
              f"{TALLY['pending']} mails pending, {TALLY['delivered']} delivered once after recovery")


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def app_config(port):
    return {"CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": port,
            "CRM_SMTP_TIMEOUT": TIMEOUT}


@pytest.fixture
def servers():
    """Every server a test starts, stopped at the end whatever happened."""
    started = []
    yield started
    for server in reversed(started):
        try:
            server.stop()
        except Exception:  # noqa: BLE001, S110 (stopped already)
            pass


def start_fault(kind, port, servers):
    factory = FAULTS[kind][0]
    if factory is None:
        return None
    server = factory(port).start()
    servers.append(server)
    return server


def start_real_smtp(port, servers) -> Smtp:
    smtp = Smtp()
    smtp.port = port
    smtp.start()
    servers.append(smtp)
    return smtp


def rows() -> list[ReminderDispatch]:
    db.session.expire_all()
    return db.session.scalars(sa.select(ReminderDispatch).order_by(ReminderDispatch.id)).all()


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_loses_nothing_and_recovery_delivers_each_mail_once(app, due, port, servers, kind):
    _, says, hangs = FAULTS[kind]
    fault = start_fault(kind, port, servers)
    started = time.monotonic()
    down = dispatch.run("daily", TUESDAY)
    seconds = time.monotonic() - started
    assert (down.sent, down.failed) == (0, 2)
    assert seconds < TIMEOUT + 3  # one timeout for the whole batch, not one per mail
    if hangs:
        assert seconds >= TIMEOUT * 0.9  # it was the timeout that ended the wait
    pending = rows()
    assert [r.status for r in pending] == ["pending", "pending"]
    assert all(says in r.last_error and r.next_attempt_at is not None for r in pending), \
        [r.last_error for r in pending]
    assert all(says in e for e in down.errors)
    error = pending[0].last_error

    # a second run while the fault lasts: still nothing lost, still nothing twice
    again = dispatch.run("daily", TUESDAY)
    assert (again.sent, again.failed) == (0, 2)
    assert len(rows()) == 2

    if fault is not None:
        fault.stop()
        servers.remove(fault)
    smtp = start_real_smtp(port, servers)
    back = dispatch.run("daily", TUESDAY)
    assert (back.sent, back.failed) == (2, 0)
    assert sorted(m["To"] for m in smtp.inbox.messages) == RECIPIENTS
    assert dispatch.run("daily", TUESDAY).sent == 0  # and never again
    retry_job = dispatch.RunResult()
    dispatch.deliver(retry_job)  # the scheduler's retry job finds nothing left to send
    assert retry_job.sent == 0
    assert sorted(m["To"] for m in smtp.inbox.messages) == RECIPIENTS
    assert [r.status for r in rows()] == ["sent", "sent"]
    TALLY["kinds"].add(kind)
    TALLY["pending"] += len(pending)
    TALLY["delivered"] += len(smtp.inbox.messages)
    print(f"\nsmtp fault {kind}: {len(pending)} mails pending ({error[:90]}), "
          f"gave up after {seconds:.1f} s, {len(smtp.inbox.messages)} delivered once after recovery")


def test_web_pages_answer_while_the_mail_server_hangs(app, client, auth, due, port, servers):
    """The reminder run (scheduler or CLI) hangs on a silent server; pages, including one that
    writes, answer at once meanwhile: the run holds no transaction while it talks to the server."""
    app.config["CRM_SMTP_TIMEOUT"] = timeout = 5  # room for a busy CI machine to serve the pages
    silent = SilentServer(port).start()
    servers.append(silent)
    auth.login("a-1")
    outcome = {}

    def reminder_run():
        with app.app_context():
            started = time.monotonic()
            outcome["result"] = dispatch.run("daily", TUESDAY)
            outcome["seconds"] = time.monotonic() - started

    run = threading.Thread(target=reminder_run)
    run.start()
    try:
        assert silent.accepted.wait(10)  # the run is connected and waiting for a greeting
        started = time.monotonic()
        home = client.get("/")
        saved = client.post("/reminders/preferences",
                            data={"reminder_daily": "y", "reminder_weekly": "y"})
        leads = client.get("/leads/")
        web_seconds = time.monotonic() - started
        still_hanging = run.is_alive()
    finally:
        run.join(timeout + 10)
    assert (home.status_code, saved.status_code, leads.status_code) == (200, 302, 200)
    assert still_hanging, "the pages were not served while the mail server hung"
    assert web_seconds < timeout
    assert timeout * 0.9 <= outcome["seconds"] < timeout + 3
    assert (outcome["result"].sent, outcome["result"].failed) == (0, 2)
    print(f"\nsmtp fault hang: 3 web requests answered in {web_seconds:.2f} s while the reminder "
          f"run waited {outcome['seconds']:.1f} s for a silent server (timeout {timeout} s)")


def test_admin_retry_gives_up_after_the_timeout_and_says_so(app, client, auth, due, port, servers):
    dispatch.run("daily", TUESDAY)  # nothing listens: two failed rows
    silent = SilentServer(port).start()
    servers.append(silent)
    auth.login("admin")
    started = time.monotonic()
    response = client.post("/reminders/admin/retry", data={"scope": "failed"})
    seconds = time.monotonic() - started
    assert response.status_code == 302
    assert seconds < TIMEOUT + 3
    page = client.get(response.location).text
    assert "失败 2 封" in page and "timed out" in page
    assert all(r.status == "pending" and "timed out" in r.last_error for r in rows())

    silent.stop()
    servers.remove(silent)
    smtp = start_real_smtp(port, servers)
    response = client.post("/reminders/admin/retry", data={"scope": "failed"})
    assert "已发送 2 封" in client.get(response.location).text
    assert sorted(m["To"] for m in smtp.inbox.messages) == RECIPIENTS
    response = client.post("/reminders/admin/retry", data={"scope": "failed"})
    assert "没有可重试的提醒" in client.get(response.location).text
    assert len(smtp.inbox.messages) == 2
    print(f"\nsmtp fault hang (admin retry): the retry page answered in {seconds:.1f} s with the "
          f"failure; after recovery 2 delivered once")
