"""Each entry of 我的提醒 opens what it was about (issue 19)."""

import re

import sqlalchemy as sa

from crm.clock import today
from crm.extensions import db
from crm.moveback import services as moveback_services
from crm.reminders.models import ReminderDispatch
from tests import factories


def test_each_reminder_links_to_what_it_was_about(client, auth, world):
    for kind, period in (("daily", today().isoformat()), ("supervision", "o7"),
                         ("dispute", "D3"), ("review", today().isoformat()),
                         ("weekly", "2026-W48"), ("move_back", "B5")):
        db.session.add(ReminderDispatch(user_id=world.head_a.id, kind=kind, period=period,
                                        status="sent", subject=f"主题{kind}"))
    db.session.commit()
    auth.login("a-head")
    text = client.get("/reminders/").get_data(as_text=True)
    links = dict((subject, href) for href, subject in
                 re.findall(r'<a href="([^"]+)">(主题\w+)</a>', text))
    # the weekly digest, and a 申请退回 whose request is unknown: 我的工作
    assert links == {"主题daily": "/my", "主题supervision": "/supervision/7",
                     "主题dispute": "/disputes/3", "主题review": "/claims/",
                     "主题weekly": "/my", "主题move_back": "/my"}


def test_a_move_back_reminder_opens_its_lead(client, auth, world):
    """The head asked to decide, and the officer told of the decision: both open the lead, where
    the request is decided and shown (an unknown request: 我的工作)."""
    signed = factories.lead(world.head_a, world.a, name="新材料产业园", company="山东新材料有限公司",
                            stage="signed", primary_officer_id=world.off_a1.id)
    asked = moveback_services.request_move_back(world.off_a1, signed, "negotiation", "重新商谈")
    db.session.flush()
    head_row = db.session.scalar(sa.select(ReminderDispatch).where(  # made with the request
        ReminderDispatch.user_id == world.head_a.id, ReminderDispatch.kind == "move_back"))
    assert head_row.period == f"B{asked.id}"
    head_row.subject = f"主题B{asked.id}"
    for period in (f"B{asked.id}-d", "B99999"):
        db.session.add(ReminderDispatch(user_id=world.off_a1.id, kind="move_back", period=period,
                                        status="sent", subject=f"主题{period}"))
    db.session.commit()
    for username, expected in (("a-head", {f"主题B{asked.id}": f"/leads/{signed.id}#move-back"}),
                               ("a-1", {f"主题B{asked.id}-d": f"/leads/{signed.id}#move-back",
                                        "主题B99999": "/my"})):
        auth.login(username)
        text = client.get("/reminders/").get_data(as_text=True)
        assert dict((subject, href) for href, subject in
                    re.findall(r'<a href="([^"]+)">(主题[\w-]+)</a>', text)) == expected
        auth.logout()
