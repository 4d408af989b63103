"""A full disk under the outbox (the `file` mail backend): the failure is reported and stored, no
partial .eml is left, and once there is room the retry writes each message exactly once.

The outbox is a real 64 KiB tmpfs mounted for the test (root locally and in CI), filled up.
"""

import datetime as dt
import email
import errno
import os
import subprocess
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.reminders import dispatch
from crm.reminders.cli import reminders
from crm.reminders.models import ReminderDispatch
from tests import factories
from tests.mailserver import TUESDAY

PAGE = 4096
RECIPIENTS = ["a-1@example.test", "a-2@example.test"]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def app_config():
    return {"CRM_MAIL_BACKEND": "file"}


@pytest.fixture
def outbox(app):
    """instance/outbox on a 64 KiB tmpfs of its own, unmounted at the end."""
    folder = Path(app.instance_path) / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                                  str(folder)], capture_output=True, text=True, timeout=30)
        problem = mounted.stderr.strip() if mounted.returncode else None
    except (OSError, subprocess.SubprocessError) as exc:
        problem = str(exc)
    if problem:
        reason = f"cannot mount a small tmpfs for the outbox (root needed): {problem}"
        if os.environ.get("CRM_REQUIRE_FAULTS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def long_digest(due):
    """a-1 has 40 overdue follow-ups, so that that mail is several pages long."""
    for n in range(40):
        lead = factories.lead(due.off_a1, due.a, name=f"待跟进项目{n:02d}",
                              company=f"第{n:02d}号测试有限公司")
        lead.next_follow_up = TUESDAY - dt.timedelta(days=3)
    db.session.commit()
    return due


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a file until the disk is full, then give back ``leave`` bytes."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * PAGE)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        if leave:
            os.ftruncate(fd, os.fstat(fd).st_size - leave)
    finally:
        os.close(fd)
    return filler


def send(runner):
    return runner.invoke(reminders, ["send", "daily", "--as-of", TUESDAY.isoformat()])


def rows() -> list[ReminderDispatch]:
    db.session.expire_all()
    return db.session.scalars(sa.select(ReminderDispatch).order_by(ReminderDispatch.id)).all()


def test_full_outbox_is_reported_and_retried_exactly_once(app, runner, long_digest, outbox):
    """One page left: a-1's long mail is cut off mid-write (and removed), a-2's short one fits."""
    filler = fill(outbox, leave=PAGE)
    full = send(runner)
    assert full.exit_code == 1, full.output
    assert "failed: a-1: outbox: [Errno 28] No space left on device" in full.stderr
    assert "sent 1, skipped 0, failed 1" in full.stdout
    long_row, short_row = rows()
    assert len(long_row.message) > 2 * PAGE and len(short_row.message) < PAGE
    assert long_row.status == "pending" and "No space left on device" in long_row.last_error
    assert short_row.status == "sent"
    short_file = outbox / f"daily-{TUESDAY}-{short_row.user_id}-{short_row.id}.eml"
    # nothing partial left: only the filler and the mail that fitted, whole
    assert sorted(p.name for p in outbox.iterdir()) == sorted(["filler.bin", short_file.name])
    assert short_file.read_text(encoding="utf-8") == short_row.message
    first_write = short_file.stat().st_mtime_ns

    again = send(runner)  # still full: still reported, still nothing partial
    assert again.exit_code == 1 and "No space left on device" in again.stderr
    assert "sent 0, skipped 2, failed 1" in again.stdout
    assert sorted(p.name for p in outbox.iterdir()) == sorted(["filler.bin", short_file.name])

    filler.unlink()
    back = send(runner)
    assert back.exit_code == 0 and "sent 1, skipped 2, failed 0" in back.stdout, back.output
    written = sorted(outbox.iterdir())
    assert len(written) == 2 and all(p.suffix == ".eml" for p in written)
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in written]
    assert sorted(m["To"] for m in messages) == RECIPIENTS
    for row in rows():  # whole and identical to what was claimed
        [path] = [p for p in written if p.name.endswith(f"-{row.id}.eml")]
        assert path.read_text(encoding="utf-8") == row.message
        assert row.status == "sent" and row.last_error == ""
    assert short_file.stat().st_mtime_ns == first_write  # written once, never again

    assert send(runner).stdout.strip().endswith("sent 0, skipped 2, failed 0")
    retry_job = dispatch.RunResult()
    dispatch.deliver(retry_job)
    assert retry_job.sent == 0 and sorted(outbox.iterdir()) == written
    print(f"\noutbox full: 1 of 2 mails pending (ENOSPC mid-write of {len(long_row.message)} bytes "
          f"reported, exit code 1, no partial file), each of the {len(written)} written exactly "
          f"once after space was freed")


def test_a_scheduled_retry_after_a_full_disk_writes_each_once(app, due, outbox):
    filler = fill(outbox)  # not a byte left
    result = dispatch.run("daily", TUESDAY)
    assert (result.sent, result.failed) == (0, 2)
    assert all("No space left on device" in e for e in result.errors)
    assert sorted(p.name for p in outbox.iterdir()) == ["filler.bin"]
    filler.unlink()
    waiting = dispatch.RunResult()
    dispatch.deliver(waiting)  # the retry job honours the back-off: nothing yet
    assert waiting.sent == 0 and list(outbox.glob("*.eml")) == []
    db.session.execute(sa.update(ReminderDispatch).values(
        next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    db.session.commit()
    later = dispatch.RunResult()
    dispatch.deliver(later)
    assert (later.sent, later.failed) == (2, 0)
    assert len(list(outbox.glob("*.eml"))) == 2
    again = dispatch.RunResult()
    dispatch.deliver(again)
    assert again.sent == 0 and len(list(outbox.iterdir())) == 2
    print("\noutbox full (scheduled retry): 2 pending while full, 2 written once after the back-off")
