"""Each entry of 我的提醒 opens what it was about (issue 19)."""

import re

from crm.clock import today
from crm.extensions import db
from crm.reminders.models import ReminderDispatch


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
    # the weekly digest and a 申请退回 to decide: 我的工作, which lists both
    assert links == {"主题daily": "/my", "主题supervision": "/supervision/7",
                     "主题dispute": "/disputes/3", "主题review": "/claims/",
                     "主题weekly": "/my", "主题move_back": "/my"}
