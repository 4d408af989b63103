"""What the robots say: each workday's follow-ups per unit, a published bulletin, supervision
orders. Builders return ``dispatch.Message`` values; nothing is sent here.

For code that publishes a bulletin or moves a supervision order, ``bulletin_published`` and
``supervision_event`` add the messages to the current unit of work (sent once it commits).
"""

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm import joinedload, selectinload

from crm.channels.dispatch import Message, enqueue
from crm.channels.models import Channel
from crm.channels.outbox import base_url, md, mobiles, to_channels
from crm.extensions import db
from crm.leads.models import Lead

#: How many units the bulletin summary names at the top and at the bottom of the ranking.
RANKED_SHOWN = 3


def _get(obj, name, default=None):
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


# --- each workday's follow-ups, per unit --------------------------------------------------------

def daily_messages(as_of: dt.date) -> list[Message]:
    """For each enabled unit channel: its unit's follow-ups due on ``as_of`` or overdue, with
    the officers @-mentioned by mobile. Units with nothing due get no message."""
    channels = list(db.session.scalars(sa.select(Channel).where(
        Channel.enabled.is_(True), Channel.township_id.is_not(None)).order_by(Channel.id)))
    units = {c.township_id for c in channels}
    if not units:
        return []
    leads = db.session.scalars(
        sa.select(Lead).where(Lead.in_progress, Lead.next_follow_up <= as_of,
                              Lead.township_id.in_(units))
        .options(selectinload(Lead.helpers), joinedload(Lead.primary_officer))
        .order_by(Lead.next_follow_up, Lead.id)
    ).unique().all()
    by_unit: dict[int, list[Lead]] = {}
    for lead in leads:
        by_unit.setdefault(lead.township_id, []).append(lead)
    out = []
    for channel in channels:
        unit_leads = by_unit.get(channel.township_id)
        if not unit_leads:
            continue
        title, body = _daily_text(channel.township.name, as_of, unit_leads)
        people = mobiles([i for lead in unit_leads for i in lead.officer_ids])
        out.append(Message(channel.id, "daily", as_of.isoformat(), title, body, people,
                           f"{base_url()}/leads?overdue=1"))
    return out


def _daily_text(unit_name: str, as_of: dt.date, leads: list[Lead]) -> tuple[str, str]:
    overdue = [lead for lead in leads if lead.next_follow_up < as_of]
    today = [lead for lead in leads if lead.next_follow_up == as_of]
    title = _("%(unit)s 跟进提醒（%(d)s）", unit=md(unit_name), d=as_of.isoformat())
    lines = [f"### {title}",
             _("已逾期 %(o)s 个，今天到期 %(t)s 个。", o=len(overdue), t=len(today))]
    for heading, group in ((_("已逾期"), overdue), (_("今天到期"), today)):
        if not group:
            continue
        lines.append(f"**{heading}**")
        for lead in group:
            officer = md(lead.primary_officer.display_name) if lead.primary_officer else _("未分配")
            late = (as_of - lead.next_follow_up).days
            when = ngettext("逾期 %(num)s 天", "逾期 %(num)s 天", late) if late > 0 else _("今天")
            lines.append(f"- [{md(lead.name)}]({base_url()}/leads/{lead.id}) {officer} · {when}")
    return title, "\n".join(lines)


# --- a published bulletin -----------------------------------------------------------------------

def bulletin_summary(as_of: dt.date, link: str) -> tuple[str, str]:
    """The title and markdown summary of the bulletin as of ``as_of``: time progress, the top
    and bottom units, the red and yellow counts, the red leads by unit, the link."""
    from crm.bulletin.report import DistrictReader, bulletin_data, percent

    data = bulletin_data(DistrictReader(), as_of)
    counts = data.counts
    title = _("招商引资红黄蓝通报（截至 %(d)s）", d=as_of.isoformat())
    lines = [f"### {title}",
             _("时序进度 %(p)s；红色项目 %(r)s 个，黄色 %(y)s 个，蓝色 %(b)s 个。",
               p=percent(data.time_progress), r=counts["red"], y=counts["yellow"], b=counts["blue"])]
    ranked = [u for u in data.units if u.mean_attainment is not None]
    if ranked:
        top = ranked[:RANKED_SHOWN]
        bottom = [u for u in ranked[-RANKED_SHOWN:] if u not in top]
        lines.append(_("**排名靠前**：%(u)s", u="、".join(
            f"{md(u.name)}（{percent(u.mean_attainment)}）" for u in top)))
        if bottom:
            lines.append(_("**排名靠后**：%(u)s", u="、".join(
                f"{md(u.name)}（{percent(u.mean_attainment)}）" for u in bottom)))
    red = data.with_colour("red")
    if red:
        per_unit: dict[str, list] = {}
        for item in red:
            per_unit.setdefault(item.lead.township.name, []).append(item)
        lines.append(_("**红色项目（按单位）**"))
        for name, items in per_unit.items():
            lines.append(f"- {md(name)} {len(items)}：" + "、".join(md(i.lead.name) for i in items))
    lines.append(_("[查看通报全文](%(url)s)", url=link))
    return title, "\n\n".join(lines)


def bulletin_messages(as_of: dt.date, ref: str, link: str | None = None) -> list[Message]:
    """The summary to every enabled district channel."""
    link = link or f"{base_url()}/bulletin?as_of={as_of.isoformat()}"
    title, body = bulletin_summary(as_of, link)
    return to_channels(None, "bulletin", ref, title, body, (), link)


def bulletin_published(issue) -> int:
    """Call when a bulletin issue is published (in the same unit of work): the district's
    channels get its summary once. ``issue``: an object or a dict with ``as_of`` (a date) and
    ``id``; ``url`` optional (default: the bulletin page of that date). Returns the messages
    added."""
    as_of = _get(issue, "as_of")
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    issue_id = _get(issue, "id")
    ref = f"bulletin-{issue_id}" if issue_id is not None else f"bulletin-{as_of.isoformat()}"
    url = _get(issue, "url") or (f"{base_url()}/bulletins/{issue_id}" if issue_id is not None
                                 else None)
    return enqueue(bulletin_messages(as_of, ref, url))


# --- supervision orders -------------------------------------------------------------------------

SUPERVISION_EVENTS = ("issued", "escalated", "overdue")
#: The level whose orders also go to the district's channels (约谈).
DISTRICT_LEVEL = "talk"


def supervision_messages(order, event: str) -> list[Message]:
    """An order issued, escalated or overdue: to its unit's channels, and to the district's
    when its level is ``talk``. ``order``: an object or a dict with ``id``, ``township_id``,
    ``level``, ``reason``, and optionally ``lead_id``, ``lead_name``, ``due_on``,
    ``level_label``, ``officer_ids`` (to @-mention) and ``url``."""
    if event not in SUPERVISION_EVENTS:
        raise ValueError(event)
    order_id, level = _get(order, "id"), _get(order, "level", "")
    level_label = md(_get(order, "level_label") or level)
    lead_name = md(_get(order, "lead_name") or "")
    due_on = _get(order, "due_on")
    link = _get(order, "url") or f"{base_url()}/supervision/{order_id}"
    heading = {"issued": _("督办下达"), "escalated": _("督办升级"), "overdue": _("督办逾期")}[event]
    title = f"{heading}：{lead_name}" if lead_name else heading
    lines = [f"### {title}", _("级别：%(l)s", l=level_label)]
    if lead_name and _get(order, "lead_id"):
        lead_url = f"{base_url()}/leads/{_get(order, 'lead_id')}"
        lines.append(_("项目：[%(n)s](%(u)s)", n=lead_name, u=lead_url))
    if _get(order, "reason"):
        lines.append(_("事由：%(r)s", r=md(_get(order, "reason"))))
    if due_on:
        lines.append(_("答复期限：%(d)s", d=str(due_on)))
    lines.append(_("[查看督办单](%(u)s)", u=link))
    body = "\n\n".join(lines)
    ref = f"order-{order_id}-{event}-{level}"
    if event == "overdue" and due_on:
        ref += f"-{due_on}"
    people = mobiles(_get(order, "officer_ids") or [])
    out = to_channels(_get(order, "township_id"), "supervision", ref, title, body, people, link)
    if level == DISTRICT_LEVEL:
        out += to_channels(None, "supervision", ref, title, body, (), link)
    return out


def supervision_event(order, event: str) -> int:
    """Call when an order is issued, escalated or found overdue (in the same unit of work)."""
    return enqueue(supervision_messages(order, event))
