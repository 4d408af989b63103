"""The weekly run composed in one pass (issue 21): the same mail, to the same people, as the
per-recipient composition it replaced, and a number of queries that does not grow with the
number of recipients."""

import datetime as dt

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy.orm import joinedload

from crm.auth.models import DISTRICT_ADMIN, OFFICER, TOWNSHIP_HEAD, User
from crm.auth.permissions import editable_leads, scope_leads
from crm.extensions import db
from crm.leads import services as lead_services
from crm.leads.models import Lead, StageChange
from crm.reminders import content, mail
from crm.stats.queries import district_stats
from crm.stats.results import pending_summary
from crm.supervision.queries import list_orders
from crm.supervision.services import issue_order
from crm.targets.models import METRIC_LABELS
from crm.visits.models import Visit
from crm.visits.services import log_visit
from tests import factories
from tests.mailserver import TUESDAY
from tests.querycount import count_queries

# -- the composition before issue 21, one recipient at a time (the reference) ------------------

def _open_orders(user):
    if user.role == OFFICER:
        return [o for o in list_orders(user, status="live") if user.id in o.lead.officer_ids]
    return list_orders(user, status="live")


def _officer_week(user, as_of, sunday, last_monday, last_sunday):
    mine = editable_leads(user).where(Lead.in_progress).order_by(Lead.next_follow_up, Lead.id)
    leads = content._with_colour(mine, as_of)
    overdue = [lead for lead in leads if lead.next_follow_up and lead.next_follow_up < as_of]
    this_week = [lead for lead in leads
                 if lead.next_follow_up and as_of <= lead.next_follow_up <= sunday]
    flagged = [lead for lead in leads if lead.colour in ("red", "yellow")]
    visits = db.session.scalars(
        sa.select(Visit).where(Visit.user_id == user.id,
                               Visit.visited_on.between(last_monday, last_sunday))
        .options(joinedload(Visit.lead)).order_by(Visit.visited_on, Visit.id)).all()
    if not (overdue or this_week or flagged or visits):
        return None
    return {"overdue": overdue, "this_week": this_week, "flagged": flagged, "visits": visits}


def _head_week(user, as_of, last_monday, last_sunday):
    stats = district_stats(user, as_of.year, as_of)
    unit = stats.unit(user.township_id)
    if unit is None:
        return None
    moves = db.session.scalars(
        scope_leads(sa.select(StageChange).join(Lead, Lead.id == StageChange.lead_id), user)
        .where(StageChange.implied.is_(False), StageChange.from_stage.is_not(None),
               StageChange.effective_on.between(last_monday, last_sunday))
        .options(joinedload(StageChange.lead), joinedload(StageChange.user))
        .order_by(StageChange.effective_on, StageChange.id)).all()
    red = [lead for lead in content._with_colour(
        scope_leads(sa.select(Lead), user).where(Lead.in_progress)
        .options(joinedload(Lead.primary_officer)).order_by(Lead.id), as_of)
        if lead.colour == "red"]
    visited = sa.select(Visit.user_id).where(Visit.township_id == user.township_id,
                                             Visit.visited_on.between(last_monday, last_sunday))
    idle = db.session.scalars(
        sa.select(User).where(User.township_id == user.township_id, User.active,
                              User.role == OFFICER, User.id.not_in(visited))
        .order_by(User.display_name)).all()
    if not (sum(unit.snapshot.values()) or unit.targets or moves):
        return None
    return {"stats": stats, "unit": unit, "moves": moves, "red": red, "idle_officers": idle,
            "pending": pending_summary(unit)}


def reference_digests(as_of):
    period = content.weekly_period(as_of)
    monday, sunday, last_monday, last_sunday = content.week_bounds(as_of)
    users = db.session.scalars(content._recipients(User.reminder_weekly).order_by(User.id)).all()
    district, digests = None, []
    for user in users:
        if user.role == OFFICER:
            context = _officer_week(user, as_of, sunday, last_monday, last_sunday)
            template = "weekly_officer"
        elif user.role == TOWNSHIP_HEAD:
            context = _head_week(user, as_of, last_monday, last_sunday)
            template = "weekly_head"
        elif user.role == DISTRICT_ADMIN:
            district = district or district_stats(user, as_of.year, as_of)
            context = {"stats": district,
                       "pending": {u.township_id: pending_summary(u) for u in district.units},
                       } if district.units else None
            template = "weekly_admin"
        else:
            continue
        orders = _open_orders(user)
        if context is None and orders and user.role == OFFICER:
            context = {"overdue": [], "this_week": [], "flagged": [], "visits": []}
        if context:
            context.update(orders=orders)
            context.update(as_of=as_of, period=period, last_monday=last_monday,
                           last_sunday=last_sunday, lead_url=content.lead_url)
            digests.append(content.Digest(user, "weekly", period, template, context))
    return digests


def reference_render(digest):
    """(subject, text, HTML) as ``mail.render`` made them before issue 21."""
    user = digest.user
    base = current_app.config["CRM_BASE_URL"].rstrip("/")
    unsubscribe = f"{base}/reminders/unsubscribe/{mail.unsubscribe_token(user, 'weekly')}"
    context = dict(digest.context, user=user, base_url=base, unsubscribe_url=unsubscribe,
                   METRIC_LABELS=METRIC_LABELS)
    with force_locale(user.locale):
        from flask_babel import gettext as _

        subject = _("【招商 CRM】每周提醒 %(w)s", w=digest.period)
        text = render_template(f"email/{digest.template}.txt", subject=subject, **context)
        html = render_template(f"email/{digest.template}.html", subject=subject, **context)
    return subject, text, html


def _bodies(message):
    return (str(message["Subject"]), message["To"], message["List-Unsubscribe"],
            message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def _reference_bodies(digest):
    subject, text, html = reference_render(digest)
    message = mail._message(digest.user, subject, text, html, "")
    return (str(message["Subject"]), message["To"],
            mail.render(digest)["List-Unsubscribe"],
            message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def _busy_week(w):
    """More to say: a helper, visits, a move last week, a red lead, orders, a second admin who
    reads English, names that HTML must escape."""
    last_week = TUESDAY - dt.timedelta(days=7)
    admin2 = factories.user("admin-2", "district_admin", display_name="李<四> & 王")
    admin2.locale = "en"
    factories.user("admin-3", "district_admin", display_name="赵\"五\"")
    w.off_a2.display_name = "a-2 <b>"
    lead_services.assign(w.head_a, w.lead_a, w.off_a1.id, [w.off_a2.id])
    log_visit(w.off_a1, w.lead_a, {"kind": "call", "summary": "电话回访", "visited_on": last_week})
    log_visit(w.off_b1, w.lead_b, {"kind": "call", "summary": "上门", "visited_on": last_week})
    # a lead of its own for last week's move: the world's leads are dated from today, and this
    # week is a fixed one (a move on TUESDAY - 2 would precede lead_a's creation from 3 December)
    moved = factories.lead(w.head_a, w.a, name="冷链物流园", company="鲁南冷链物流有限公司",
                           created_on=TUESDAY - dt.timedelta(days=30))
    lead_services.move_stage(w.head_a, moved, "negotiation", on=TUESDAY - dt.timedelta(days=2))
    w.lead_b.next_follow_up = TUESDAY - dt.timedelta(days=60)  # long overdue: red
    issue_order(w.admin, w.lead_a, "yellow", "推进缓慢")
    issue_order(w.admin, w.lead_b, "red", "长期未跟进")
    db.session.commit()


def test_weekly_mail_is_the_same_as_composed_one_by_one(app, due):
    _busy_week(due)
    new = content.weekly_digests(TUESDAY)
    old = reference_digests(TUESDAY)
    assert [d.user.username for d in new] == [d.user.username for d in old]
    assert len(new) >= 7  # officers, heads and three admins
    renderer = mail.Renderer()  # as ``dispatch.claim`` renders them: shared parts once
    for mine, theirs in zip(new, old, strict=True):
        assert _bodies(renderer.render(mine)) == _reference_bodies(theirs), mine.user.username
    admins = [d for d in new if d.template == "weekly_admin"]
    assert len(admins) == 3 and all(d.shared for d in admins)
    html = renderer.render(admins[1]).get_body(("html",)).get_content()
    assert "李&lt;四&gt; &amp; 王" in html
    texts = {d.user.username: renderer.render(d).get_body(("plain",)).get_content() for d in new}
    assert "上周阶段变动（1）" in texts["a-head"] and "在办督办单（1 件）" in texts["a-head"]
    assert "在办督办单（1 件）" in texts["a-1"] and "在办督办单（1 件）" in texts["a-2"]
    assert "在办督办单（2 件）" in texts["admin"]


def test_weekly_queries_do_not_grow_with_recipients(app, due):
    def composed():
        db.session.expire_all()
        with count_queries() as counted:
            digests = content.weekly_digests(TUESDAY)
        db.session.rollback()
        return len(digests), counted["n"]

    before, few = composed()
    for i in range(6):
        factories.user(f"a-x{i}", "officer", due.a)
        unit = factories.township(f"新镇{i}")
        factories.user(f"h-x{i}", "township_head", unit)
        factories.lead(due.head_a, due.a, name=f"项目{i}", next_follow_up=TUESDAY,
                       primary_officer_id=db.session.scalar(
                           sa.select(User.id).where(User.username == f"a-x{i}")))
    db.session.commit()
    after, many = composed()
    assert after > before
    assert many <= few + 2  # (a second page of the same few grouped statements at most)
