"""Reminder pages: preferences, the user's sent reminders, unsubscribe links and the admin log."""

import datetime as dt
import re
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.clock import utcnow
from crm.extensions import db
from crm.reminders.mail import unsubscribe_token
from crm.reminders.models import ReminderDispatch


def dispatch_row(user, period="2026-11-25", kind="daily", **values) -> ReminderDispatch:
    message = EmailMessage()
    message["Subject"] = values.pop("subject", f"提醒 {period}")
    message["From"] = "crm@example.test"
    message["To"] = user.email
    message.set_content("今天要跟进的项目。")
    row = ReminderDispatch(user_id=user.id, kind=kind, period=period,
                           subject=str(message["Subject"]), message=message.as_string(), **values)
    db.session.add(row)
    db.session.commit()
    return row


def flags(user_id) -> tuple[bool, bool]:
    user = db.session.get(User, user_id)
    db.session.refresh(user)
    return user.reminder_daily, user.reminder_weekly


def unsubscribe_audits() -> list[AuditEntry]:
    return db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "reminders.unsubscribe")).all()


def tamper(token: str) -> str:
    """One character of the signed payload changed (never only the signature's spare bits)."""
    changed = ("A" if token[0] != "A" else "B") + token[1:]
    assert changed != token
    return changed


# --- preferences and the user's own list ------------------------------------------------------

def test_preferences_save(client, auth, world):
    auth.login("a-1")
    page = client.get("/reminders/preferences")
    assert page.status_code == 200
    assert page.text.count("checked") == 2 and "每日跟进提醒" in page.text
    response = client.post("/reminders/preferences", data={"reminder_weekly": "y"})
    assert response.status_code == 302
    assert flags(world.off_a1.id) == (False, True)
    assert "已保存" in client.get(response.location).text
    client.post("/reminders/preferences", data={"reminder_daily": "y"})
    assert flags(world.off_a1.id) == (True, False)
    assert flags(world.off_a2.id) == (True, True)


def test_pages_need_sign_in(client, world):
    for url in ("/reminders/", "/reminders/preferences", "/reminders/admin"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_list_shows_only_the_users_rows(client, auth, world):
    dispatch_row(world.off_a1, subject="给专员一的提醒", status="sent", sent_at=utcnow())
    dispatch_row(world.off_a1, period="2026-W48", kind="weekly", subject="专员一的周报")
    dispatch_row(world.off_a2, subject="给专员二的提醒", status="sent", sent_at=utcnow())
    auth.login("a-1")
    page = client.get("/reminders/")
    assert page.status_code == 200
    assert "给专员一的提醒" in page.text and "专员一的周报" in page.text
    assert "给专员二的提醒" not in page.text
    assert page.text.index("专员一的周报") < page.text.index("给专员一的提醒")  # newest first
    assert "class=\"scroller\"" in page.text and "style=" not in page.text


# --- unsubscribe ------------------------------------------------------------------------------

def test_unsubscribe_with_a_valid_token_needs_no_sign_in(client, world):
    token = unsubscribe_token(world.off_a1, "daily")
    page = client.get(f"/reminders/unsubscribe/{token}")
    assert page.status_code == 200 and "确认退订" in page.text
    assert flags(world.off_a1.id) == (True, True)  # GET changes nothing
    assert unsubscribe_audits() == []

    done = client.post(f"/reminders/unsubscribe/{token}")
    assert done.status_code == 200
    assert "已退订" in done.text and "/reminders/preferences" in done.text
    assert flags(world.off_a1.id) == (False, True)
    [entry] = unsubscribe_audits()
    assert (entry.user_id, entry.object_type, entry.object_id) == (world.off_a1.id, "user",
                                                                   world.off_a1.id)
    assert entry.changes == {"reminder_daily": [True, False]}

    client.post(f"/reminders/unsubscribe/{unsubscribe_token(world.off_a1, 'weekly')}")
    assert flags(world.off_a1.id) == (False, False)
    assert flags(world.off_a2.id) == (True, True)


def test_unsubscribe_checks_csrf_with_the_session_cookie(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    url = f"/reminders/unsubscribe/{unsubscribe_token(world.off_a2, 'weekly')}"
    assert client.post(url).status_code == 400
    assert flags(world.off_a2.id) == (True, True)
    page = client.get(url)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    csrf = csrf or re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    response = client.post(url, data={"csrf_token": csrf.group(1)})
    assert response.status_code == 200 and "已退订" in response.text
    assert flags(world.off_a2.id) == (True, False)


def test_a_tampered_or_unknown_token_is_404_and_changes_nothing(client, world):
    token = tamper(unsubscribe_token(world.off_a1, "daily"))
    assert client.get(f"/reminders/unsubscribe/{token}").status_code == 404
    assert client.post(f"/reminders/unsubscribe/{token}").status_code == 404
    gone = User(id=99999, username="gone", email="gone@example.test")
    for url in (f"/reminders/unsubscribe/{unsubscribe_token(gone, 'daily')}",
                "/reminders/unsubscribe/not-a-token"):
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    assert flags(world.off_a1.id) == (True, True)
    assert unsubscribe_audits() == []


# --- the admin log and retries ----------------------------------------------------------------

def test_admin_log_is_for_admins_only(client, auth, world):
    auth.login("a-head")
    assert client.get("/reminders/admin").status_code == 403
    assert client.post("/reminders/admin/retry", data={"scope": "failed"}).status_code == 403
    assert "提醒日志" not in client.get("/").text
    auth.logout()
    auth.login("admin")
    assert "提醒日志" in client.get("/").text
    assert client.get("/reminders/admin").status_code == 200


def test_admin_log_lists_failures_first_and_filters(client, auth, world):
    dispatch_row(world.off_a2, subject="已送达的提醒", status="sent", sent_at=utcnow())
    dispatch_row(world.off_a1, period="2026-11-24", subject="发送失败的提醒",
                 last_error="smtp: connection refused", attempts=2,
                 next_attempt_at=utcnow() + dt.timedelta(hours=1))
    auth.login("admin")
    page = client.get("/reminders/admin")
    assert page.status_code == 200
    assert page.text.index("connection refused") < page.text.index(world.off_a2.email)
    assert "重试全部失败" in page.text and page.text.count(">重试<") == 1
    sent_only = client.get("/reminders/admin?status=sent&kind=daily").text
    assert world.off_a2.email in sent_only and "connection refused" not in sent_only
    assert "connection refused" in client.get("/reminders/admin?status=failed").text
    assert "没有符合条件的提醒" in client.get("/reminders/admin?kind=weekly").text
    page9 = client.get("/reminders/admin?status=bogus&page=9")  # past the last: to the last
    assert page9.status_code == 302 and "page=1" in page9.location


def test_retry_sends_a_pending_row_to_the_outbox(app, client, auth, world):
    failed = dispatch_row(world.off_a1, last_error="smtp: down", attempts=1,
                          next_attempt_at=utcnow() + dt.timedelta(hours=1))
    other = dispatch_row(world.off_a2, last_error="smtp: down", attempts=1,
                         next_attempt_at=utcnow() + dt.timedelta(hours=1))
    leased = dispatch_row(world.head_a, attempts=1,
                          next_attempt_at=utcnow() + dt.timedelta(minutes=10))
    auth.login("admin")
    response = client.post("/reminders/admin/retry?status=failed",
                           data={"dispatch_id": str(failed.id)})
    assert response.status_code == 302 and "status=failed" in response.location
    assert "已发送 1 封" in client.get(response.location).text
    db.session.refresh(failed)
    db.session.refresh(other)
    assert (failed.status, failed.last_error) == ("sent", "")
    assert failed.sent_at is not None and other.status == "pending"
    outbox = Path(app.instance_path) / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 1

    client.post("/reminders/admin/retry", data={"dispatch_id": str(leased.id)})  # being sent
    db.session.refresh(leased)
    assert leased.status == "pending"

    client.post("/reminders/admin/retry", data={"scope": "failed"})
    db.session.refresh(other)
    assert other.status == "sent"
    assert len(list(outbox.glob("*.eml"))) == 2
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))
                             .where(AuditEntry.action == "reminders.retry")) == 2
