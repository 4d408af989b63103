"""Issuing, answering and closing supervision orders, and the daily automatic run.

Services flush and never commit, except ``run_and_commit`` (the CLI's and the scheduler's run),
which commits each order in a transaction of its own.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from crm import audit, inputs
from crm.auth.models import User
from crm.auth.permissions import can
from crm.clock import today, utcnow
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.leads.colour import colour_expr, lead_colour
from crm.leads.models import Lead
from crm.reminders import dispatch
from crm.reminders.workdays import is_workday
from crm.supervision import signals
from crm.supervision.models import (
    LEVEL_LABELS,
    LEVELS,
    LIVE_STATUSES,
    SupervisionAnswer,
    SupervisionCounter,
    SupervisionOrder,
    next_level,
)
from crm.supervision.notify import queue_talk_mail

log = logging.getLogger(__name__)

DUE_WORKDAYS = 10
#: A red project gets no new automatic order within this many days of its last one.
QUIET_DAYS = 30
TEXT_MAX = 4000


def add_workdays(start: dt.date, n: int) -> dt.date:
    """The ``n``-th Chinese workday after ``start`` (holidays off, 调休 days on)."""
    day = start
    while n > 0:
        day += dt.timedelta(days=1)
        if is_workday(day):
            n -= 1
    return day


def _text(value, name: str, message) -> str:
    text = inputs.clean_text(value or "").strip()
    if not inputs.has_visible(text):
        raise DomainError(message, {name: [message]})
    if len(text) > TEXT_MAX:
        message = _l("不能超过%(n)s个字", n=TEXT_MAX)
        raise DomainError(message, {name: [message]})
    return text


def take_number(year: int) -> int:
    """The next number of ``year``, from its counter row, in the caller's transaction.

    The UPDATE locks the row (PostgreSQL) or holds the write lock (SQLite) until the caller's
    transaction ends: a concurrent issuer waits, then reads the committed value; a rollback
    gives the number back. No gaps, no duplicates.
    """
    counter = SupervisionCounter.__table__
    bump = (sa.update(counter).where(counter.c.year == year)
            .values(last_number=counter.c.last_number + 1).returning(counter.c.last_number))
    number = db.session.execute(bump).scalar()
    if number is None:
        # The year's first order: create its row (a concurrent creator may win; then bump it).
        try:
            with db.session.begin_nested():
                db.session.execute(sa.insert(counter).values(year=year, last_number=1))
            return 1
        except IntegrityError:
            number = db.session.execute(bump).scalar()
    return number


def _create(lead: Lead, level: str, reason: str, issued_on: dt.date, due_on: dt.date, *,
            user: User | None, run_key: str | None = None,
            escalated_from: SupervisionOrder | None = None) -> SupervisionOrder:
    order = SupervisionOrder(
        lead=lead, township_id=lead.township_id, year=issued_on.year,
        number=take_number(issued_on.year), level=level, reason=reason, issued_on=issued_on,
        due_on=due_on, status="open", run_key=run_key, escalated_from=escalated_from,
        issued_by_id=getattr(user, "id", None))
    db.session.add(order)
    db.session.flush()
    if level == LEVELS[-1]:
        queue_talk_mail(order)
    audit.record(user, "supervision.issue", order, lead_id=lead.id, changes={
        "number": [None, order.number_text], "level": [None, level], "due_on": [None, due_on]})
    return order


def issue_order(user: User, lead: Lead, level: str, reason: str,
                due_on: dt.date | None = None) -> SupervisionOrder:
    """An admin's order on ``lead`` at any level; due in 10 workdays unless given."""
    if not can(user, "supervision.issue", lead):
        raise Forbidden(_l("只有区招商局可以下发督办单"))
    if level not in LEVELS:
        message = _l("请选择督办级别")
        raise DomainError(message, {"level": [message]})
    reason = _text(reason, "reason", _l("请填写督办事由"))
    issued_on = today()
    if due_on is None:
        due_on = add_workdays(issued_on, DUE_WORKDAYS)
    elif due_on < issued_on:
        message = _l("办理期限不能早于今天")
        raise DomainError(message, {"due_on": [message]})
    order = _create(lead, level, reason, issued_on, due_on, user=user)
    signals.order_issued.send(order, escalated_from=None)
    return order


def answer_order(user: User, order: SupervisionOrder, text: str,
                 attachments=()) -> SupervisionAnswer:
    """The unit's answer (its head or the lead's officers); the order is then ``answered``."""
    if not can(user, "supervision.answer", order):
        raise Forbidden(_l("只有承办单位可以答复督办单"))
    if order.status == "closed":
        raise Conflict(_l("督办单已办结"))
    text = _text(text, "text", _l("请填写整改措施和进展"))
    answer = SupervisionAnswer(order=order, text=text, by_id=user.id, at=utcnow(),
                               files=list(attachments))
    order.status = "answered"
    db.session.add(answer)
    db.session.flush()
    audit.record(user, "supervision.answer", order, lead_id=order.lead_id,
                 changes={"status": ["open", "answered"]})
    return answer


def close_order(user: User, order: SupervisionOrder, note: str) -> SupervisionOrder:
    if not can(user, "supervision.close", order):
        raise Forbidden(_l("只有区招商局可以办结督办单"))
    if order.status == "closed":
        raise Conflict(_l("督办单已办结"))
    note = _text(note, "note", _l("请填写办结意见"))
    old = order.status
    order.status, order.closed_note = "closed", note
    order.closed_by_id, order.closed_at = user.id, utcnow()
    db.session.flush()
    audit.record(user, "supervision.close", order, lead_id=order.lead_id,
                 changes={"status": [old, "closed"]})
    return order


# --- the automatic run ---------------------------------------------------------------------

@dataclass
class RunResult:
    issued: list = field(default_factory=list)
    escalated: list = field(default_factory=list)
    skipped: int = 0

    def summary(self) -> str:
        return f"新下发 {len(self.issued)}，升级 {len(self.escalated)}，跳过 {self.skipped}"


def run_key(lead_id: int, level: str, day: dt.date) -> str:
    return f"auto:{lead_id}:{level}:{day.isoformat()}"


def _taken(key: str) -> bool:
    return db.session.scalar(
        sa.select(sa.literal(1)).where(SupervisionOrder.run_key == key)) is not None


def _once(key: str, make) -> SupervisionOrder | None:
    """Run ``make`` in a savepoint unless the automatic order ``key`` exists; None when another
    run has it (checked first, and again by the unique key when two runs race)."""
    if _taken(key):
        return None
    try:
        with db.session.begin_nested():
            return make()
    except IntegrityError:
        return None


def escalation_candidates(as_of: dt.date) -> list[int]:
    return list(db.session.scalars(
        sa.select(SupervisionOrder.id)
        .where(SupervisionOrder.status == "open", SupervisionOrder.due_on < as_of,
               SupervisionOrder.level != LEVELS[-1])
        .order_by(SupervisionOrder.id)))


def red_candidates(as_of: dt.date) -> list[int]:
    """Red projects as of ``as_of`` with no live order and none issued in the last 30 days."""
    recent = sa.select(SupervisionOrder.id).where(
        SupervisionOrder.lead_id == Lead.id,
        sa.or_(SupervisionOrder.status.in_(LIVE_STATUSES),
               SupervisionOrder.issued_on > as_of - dt.timedelta(days=QUIET_DAYS)))
    return list(db.session.scalars(
        sa.select(Lead.id)
        .where(Lead.in_progress, Lead.created_on <= as_of, colour_expr(as_of) == "red",
               ~recent.exists())
        .order_by(Lead.id)))


def _escalate(order_id: int, as_of: dt.date) -> SupervisionOrder | None:
    order = db.session.get(SupervisionOrder, order_id)
    if order is None or order.status != "open" or order.due_on >= as_of:
        return None
    level = next_level(order.level)

    def make():
        reason = str(_l("%(old)s%(n)s逾期未答复，升级为%(new)s。原督办事由：%(reason)s",
                        old=order.level_label, n=order.number_text, new=LEVEL_LABELS[level],
                        reason=order.reason))
        new = _create(order.lead, level, reason, as_of, add_workdays(as_of, DUE_WORKDAYS),
                      user=None, run_key=run_key(order.lead_id, level, as_of),
                      escalated_from=order)
        order.status, order.closed_at = "closed", utcnow()
        order.closed_note = str(_l("逾期未答复，已升级为%(new)s%(n)s", new=LEVEL_LABELS[level],
                                   n=new.number_text))
        db.session.flush()
        return new

    return _once(run_key(order.lead_id, level, as_of), make)


def _issue_yellow(lead_id: int, as_of: dt.date) -> SupervisionOrder | None:
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        return None
    _colour, reasons = lead_colour(lead, as_of)

    def make():
        reason = str(_l("项目红色预警：%(why)s", why="；".join(reasons) or "—"))
        return _create(lead, "yellow", reason, as_of, add_workdays(as_of, DUE_WORKDAYS),
                       user=None, run_key=run_key(lead_id, "yellow", as_of))

    return _once(run_key(lead_id, "yellow", as_of), make)


def run_and_commit(as_of: dt.date) -> RunResult:
    """The automatic issue and escalation as of ``as_of``; each order commits on its own.

    Escalations first (an order at ``talk`` past its due date is reported as overdue), then a
    yellow order for each red project without one. Safe to run any number of times, in any
    number of processes at once: each (lead, level, day) is issued at most once.
    """
    from crm.db_events import write_intent

    # Writers: on SQLite each transaction takes the write lock when it begins (a scheduler's
    # thread does not inherit the command line's flag).
    token = write_intent.set(True)
    try:
        return _run(as_of)
    finally:
        write_intent.reset(token)


def _run(as_of: dt.date) -> RunResult:
    result = RunResult()
    db.session.commit()
    for candidates, make, made in ((escalation_candidates, _escalate, result.escalated),
                                   (red_candidates, _issue_yellow, result.issued)):
        for candidate_id in candidates(as_of):
            new = make(candidate_id, as_of)
            if new is None:
                result.skipped += 1
                db.session.rollback()
                continue
            signals.order_issued.send(new, escalated_from=new.escalated_from)
            db.session.commit()
            made.append(new.id)
    overdue = db.session.scalars(sa.select(SupervisionOrder).where(
        SupervisionOrder.status == "open", SupervisionOrder.due_on < as_of,
        SupervisionOrder.level == LEVELS[-1])).all()
    for order in overdue:
        signals.order_overdue.send(order, as_of=as_of)
    db.session.commit()
    if result.escalated:
        dispatch.deliver(dispatch.RunResult())  # the 约谈 mails this run queued (and any still pending)
    log.info("supervision run %s: %s", as_of, result.summary())
    return result
