"""Each kind of reminder mail as a standards-following reader sees it, over real SMTP: the raw
header lines (RFC 2369, RFC 8058, RFC 3834, RFC 5322 dates in +0800), parsed by the strict and
the compat32 policies, the one-click unsubscribe, and the HTML's colours and empty sections."""

import datetime as dt
import email
import email.header
import email.policy
import email.utils
import re

import pytest
import sqlalchemy as sa

from crm.claims.models import Claim
from crm.cli import served_base_url
from crm.extensions import db
from crm.leads import services as lead_services
from crm.reminders import dispatch
from crm.visits.services import log_visit
from tests import factories
from tests.mailserver import TUESDAY

BASE = "https://crm.example.gov.cn"


@pytest.fixture
def app_config(smtp):
    return {"CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp.port,
            "CRM_SMTP_TIMEOUT": 5, "CRM_BASE_URL": BASE}


def raw_headers(raw: bytes) -> dict[str, str]:
    """The header block's lines as sent, unfolded by hand (no email package involved)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # 7-bit: anything else is a failure
    lines: dict[str, str] = {}
    for line in re.sub(r"\r\n[ \t]", " ", head).split("\r\n"):
        name, _, value = line.partition(":")
        lines.setdefault(name.lower(), value.strip())
    return lines


def all_mail_kinds(world) -> None:
    """Sends a daily, the three weekly kinds and the reviewers' daily mail."""
    log_visit(world.off_a1, world.lead_a, {"kind": "call", "summary": "电话回访",
                                           "visited_on": TUESDAY - dt.timedelta(days=7)})
    db.session.commit()
    assert dispatch.run("daily", TUESDAY).sent == 2
    assert dispatch.run("weekly", TUESDAY).sent == 4
    world.reviewer = factories.user("reviewer", "reviewer")
    lead_services.move_stage(world.off_a1, world.lead_a, "signed")
    db.session.flush()
    claim = db.session.scalar(sa.select(Claim))
    claim.submitted_at = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC)
    db.session.commit()
    assert dispatch.run("review", TUESDAY).sent == 1


def test_every_mail_kind_has_raw_standard_headers(app, smtp, due):
    all_mail_kinds(due)
    assert len(smtp.inbox.raw) == 7
    assert set(smtp.inbox.envelope_from) == {"crm@localhost"}  # the envelope: the bare address
    for raw in smtp.inbox.raw:
        headers = raw_headers(raw)
        # RFC 2369: the URL in angle brackets, verbatim (no RFC 2047 encoded words)
        assert re.fullmatch(rf"<{re.escape(BASE)}/reminders/unsubscribe/[\w.-]+>",
                            headers["list-unsubscribe"]), headers["list-unsubscribe"]
        assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"  # RFC 8058
        assert headers["auto-submitted"] == "auto-generated"  # RFC 3834
        assert headers["date"].endswith(" +0800")
        for name in ("list-unsubscribe", "date", "to", "message-id"):
            assert "=?" not in headers[name]  # structured headers: never encoded words
        assert headers["from"].endswith(" <crm@localhost>")
        for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            assert len(line) <= 998
        for policy in (email.policy.compat32, email.policy.strict):
            parsed = email.message_from_bytes(raw, policy=policy)
            if policy is email.policy.strict:
                assert not parsed.defects
                assert str(parsed["From"]) == "招商 CRM <crm@localhost>"
                assert parsed["From"].addresses[0].display_name == "招商 CRM"
            else:
                name = str(email.header.make_header(email.header.decode_header(parsed["From"])))
                assert name == "招商 CRM <crm@localhost>"
            assert parsed["List-Unsubscribe"] == headers["list-unsubscribe"]
            assert parsed["Auto-Submitted"] == "auto-generated"
            when = email.utils.parsedate_to_datetime(str(parsed["Date"]))
            assert when.utcoffset() == dt.timedelta(hours=8)
            subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"])))
            assert subject.startswith("【招商 CRM】")
            assert parsed.is_multipart()


def test_the_unsubscribe_link_works_in_one_click(app, smtp, due, client):
    """RFC 8058: the client POSTs List-Unsubscribe=One-Click, without a session or CSRF token."""
    app.config["WTF_CSRF_ENABLED"] = True
    dispatch.run("daily", TUESDAY)
    [raw] = [r for r, m in zip(smtp.inbox.raw, smtp.inbox.messages, strict=True)
             if m["To"] == "a-1@example.test"]
    url = raw_headers(raw)["list-unsubscribe"].strip("<>")
    path = url.removeprefix(BASE)
    assert client.post(path).status_code == 400  # the page's own form still needs its token
    assert due.off_a1.reminder_daily
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "已退订" in answer.text  # no redirect (RFC 8058)
    db.session.expire_all()
    assert not due.off_a1.reminder_daily and due.off_a1.reminder_weekly
    # once more: still 200, nothing more to change
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_html_colours_and_no_empty_sections(app, smtp, due):
    dispatch.run("weekly", TUESDAY)
    officer = smtp.inbox.to("a-1@example.test")[0].get_body(("html",)).get_content()
    # lead_a's follow-up is overdue: yellow, as a coloured chip (inline style)
    assert re.search(r'<span style="background:#facc15;[^"]*">黄</span>', officer)
    head = smtp.inbox.to("a-head@example.test")[0]
    html, text = (head.get_body((k,)).get_content() for k in ("html", "plain"))
    # no stage moved last week, no red lead: no heading for either
    assert "上周阶段变动" not in html and "上周阶段变动" not in text
    assert "红色项目" not in html and "红色项目" not in text


def test_links_follow_the_served_port(app, monkeypatch):
    monkeypatch.delenv("CRM_BASE_URL", raising=False)
    assert served_base_url(app, "127.0.0.1", 5611) == "http://127.0.0.1:5611"
    assert served_base_url(app, "0.0.0.0", 8000) == "http://127.0.0.1:8000"  # noqa: S104
    monkeypatch.setenv("CRM_BASE_URL", "https://crm.example.gov.cn")
    assert served_base_url(app, "127.0.0.1", 5611) == app.config["CRM_BASE_URL"]
