"""申请退回: the officer asks, the head approves (the lead moves back through the stage
service, on the date asked for, audited and mailed) or refuses; another unit sees nothing."""

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead, StageChange
from crm.moveback.models import MoveBackRequest
from crm.reminders.models import ReminderDispatch


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request):
    return request.param


def in_signed(world):
    lead = world.lead_a
    services.move_stage(world.off_a1, lead, "signed", on=today() - dt.timedelta(days=5))
    db.session.commit()
    return lead


def ask(client, lead, reason="合同未生效，退回洽谈", to="negotiation", on=None):
    return client.post(f"/leads/{lead.id}/move-back-request", data={
        "to_stage": to, "reason": reason, "on": (on or today()).isoformat()})


def body(message):
    return message.get_body(("plain",)).get_content()


def test_request_then_approve_moves_the_lead_back_audited_and_mailed(client, login, world, smtp):
    lead = in_signed(world)
    on = today() - dt.timedelta(days=1)
    login("a-1")
    response = ask(client, lead, on=on)
    assert response.status_code == 302 and response.headers["Location"].endswith("#move-back")
    request = db.session.scalar(sa.select(MoveBackRequest))
    assert (request.status, request.from_stage, request.to_stage, request.effective_on,
            request.requested_by_id) == ("pending", "signed", "negotiation", on, world.off_a1.id)
    [to_head] = smtp.inbox.to("a-head@example.test")
    assert lead.name in body(to_head) and "合同未生效，退回洽谈" in body(to_head)
    assert len(smtp.inbox.messages) == 1  # the other unit's head hears nothing
    # the officer's page says it waits; a second request is not offered
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "等待负责人审批" in show
    # the head decides from 我的工作
    login("a-head")
    work = client.get("/my").get_data(as_text=True)
    assert "待审批的退回申请" in work and f'/move-back/{request.id}/decide' in work
    response = client.post(f"/move-back/{request.id}/decide",
                           data={"decision": "approve", "note": "", "next": "/my"})
    assert response.status_code == 302 and response.headers["Location"] == "/my"
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    request = db.session.get(MoveBackRequest, request.id)
    assert lead.stage == "negotiation" and lead.stage_changed_on == on
    assert (request.status, request.decided_by_id) == ("approved", world.head_a.id)
    change = db.session.scalar(sa.select(StageChange).where(
        StageChange.lead_id == lead.id).order_by(StageChange.id.desc()).limit(1))
    assert (change.from_stage, change.to_stage, change.effective_on, change.user_id,
            change.reason) == ("signed", "negotiation", on, world.head_a.id, "合同未生效，退回洽谈")
    actions = db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.lead_id == lead.id, AuditEntry.action.like("move_back.%"))
        .order_by(AuditEntry.id)).all()
    assert actions == ["move_back.request", "move_back.approved"]
    [to_officer] = smtp.inbox.to("a-1@example.test")
    assert "已同意" in to_officer["Subject"] and lead.name in body(to_officer)
    # once each, however often sent
    from crm.moveback import mail
    mail.send_now(request)
    assert len(smtp.inbox.messages) == 2
    assert db.session.scalar(sa.select(sa.func.count(ReminderDispatch.id)).where(
        ReminderDispatch.kind == "move_back", ReminderDispatch.status == "sent")) == 2
    # the timeline tells both steps
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "申请退回" in show and "同意退回" in show


def test_request_then_refuse_keeps_the_stage_and_tells_the_officer(client, login, world, smtp):
    lead = in_signed(world)
    login("a-2")  # not on the lead: may not ask
    assert ask(client, lead).status_code == 403
    login("a-1")
    assert ask(client, lead, reason="   ").status_code == 422  # a reason is required
    assert ask(client, lead).status_code == 302
    request = db.session.scalar(sa.select(MoveBackRequest))
    login("a-head")
    # a refusal needs a note
    client.post(f"/move-back/{request.id}/decide", data={"decision": "refuse", "note": ""})
    db.session.expire_all()
    assert db.session.get(MoveBackRequest, request.id).status == "pending"
    client.post(f"/move-back/{request.id}/decide",
                data={"decision": "refuse", "note": "合同已生效，不退回"})
    db.session.expire_all()
    request = db.session.get(MoveBackRequest, request.id)
    assert request.status == "refused" and request.decision_note == "合同已生效，不退回"
    assert db.session.get(Lead, lead.id).stage == "signed"
    [to_officer] = smtp.inbox.to("a-1@example.test")
    assert "未同意" in to_officer["Subject"] and "合同已生效，不退回" in body(to_officer)
    assert db.session.scalar(sa.select(AuditEntry.action).where(
        AuditEntry.action == "move_back.refused")) == "move_back.refused"
    # decided once only
    response = client.post(f"/move-back/{request.id}/decide",
                           data={"decision": "approve", "note": ""}, follow_redirects=True)
    assert "该申请已处理" in response.get_data(as_text=True)
    assert db.session.get(Lead, lead.id).stage == "signed"


def test_other_unit_gets_404_and_officers_may_not_decide(client, login, world, smtp):
    lead = in_signed(world)
    login("a-1")
    ask(client, lead)
    request = db.session.scalar(sa.select(MoveBackRequest))
    login("b-head")
    assert client.post(f"/move-back/{request.id}/decide",
                       data={"decision": "approve"}).status_code == 404
    login("b-1")
    assert ask(client, lead).status_code == 404
    login("a-1")
    assert client.post(f"/move-back/{request.id}/decide",
                       data={"decision": "approve"}).status_code == 403
    assert client.get("/move-back/").status_code == 403  # officers ask; they do not decide
    login("b-head")
    assert f"/move-back/{request.id}/decide" not in client.get("/move-back/").get_data(as_text=True)
    login("admin")  # the district may decide too, from the lead page or the list
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert f'/move-back/{request.id}/decide' in show
    assert f'/move-back/{request.id}/decide' in client.get("/move-back/").get_data(as_text=True)
    assert client.post(f"/move-back/{request.id}/decide",
                       data={"decision": "approve"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage == "negotiation"


def test_approval_refused_once_the_lead_moved_on(client, login, world, smtp):
    lead = in_signed(world)
    login("a-1")
    ask(client, lead)
    request = db.session.scalar(sa.select(MoveBackRequest))
    services.move_stage(world.off_a1, db.session.get(Lead, lead.id), "started")
    db.session.commit()
    login("a-head")
    response = client.post(f"/move-back/{request.id}/decide", data={"decision": "approve"},
                           follow_redirects=True)
    assert "项目阶段已变化" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage == "started"
    assert db.session.get(MoveBackRequest, request.id).status == "pending"


def test_mail_server_down_delays_the_request_mail_and_loses_none(client, login, world, smtp):
    from crm.reminders import dispatch

    lead = in_signed(world)
    smtp.stop()
    login("a-1")
    assert ask(client, lead).status_code == 302  # the request stands without the mail server
    row = db.session.scalar(sa.select(ReminderDispatch).where(
        ReminderDispatch.kind == "move_back"))
    assert row.status == "pending" and row.last_error
    smtp.start()
    row.next_attempt_at = None  # its back-off over
    db.session.commit()
    dispatch.deliver(dispatch.RunResult())
    [to_head] = smtp.inbox.to("a-head@example.test")
    assert lead.name in to_head["Subject"]
    dispatch.deliver(dispatch.RunResult())
    assert len(smtp.inbox.messages) == 1


def test_admins_reach_the_requests_from_the_navigation_heads_from_their_work(client, auth, world):
    lead = in_signed(world)
    auth.login("a-1")
    ask(client, lead)
    auth.logout()
    nav = 'href="/move-back/"'
    auth.login("admin")
    home = client.get("/").get_data(as_text=True)
    assert nav in home.split('id="main"')[0]  # in the top bar, before the page's content
    assert "合同未生效，退回洽谈" in client.get("/move-back/").get_data(as_text=True)
    auth.logout()
    auth.login("a-head")
    assert nav not in client.get("/").get_data(as_text=True).split('id="main"')[0]
    assert nav in client.get("/my").get_data(as_text=True)  # 我的工作 lists them, and links
