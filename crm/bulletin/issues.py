"""Published bulletins (通报 第N期): publishing freezes the bulletin of an as-of date as JSON.

``publish`` builds the snapshot from the live bulletin (``report.bulletin_data``, as the
district sees it) and the open supervision orders, adds each unit's rank change against the
previous issue, and stores it. Everything that shows an issue (page, workbook, Word file, big
screen, API) reads ``BulletinIssue.content`` and nothing else.
"""

import datetime as dt
import gc
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from crm import audit
from crm.auth.models import User
from crm.auth.permissions import can
from crm.bulletin.models import BulletinIssue
from crm.bulletin.report import DistrictReader, bulletin_data, percent, target_text
from crm.clock import today, utcnow
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.kept import Kept
from crm.leads.pipeline import STAGE_LABELS
from crm.money import plain_decimal, yi_text
from crm.stats.results import as_float, pending_summary
from crm.supervision import signals
from crm.supervision.models import LIVE_STATUSES, SupervisionOrder
from crm.supervision.queries import order_record

#: The layout of ``content``; a reader of an older layout may need to adapt.
FORMAT = 1
NEW = "新"


def _amount(value) -> str | None:
    """A figure as exact text: an amount or count, a rate (a Fraction, to 4 places), or None
    where there is none (a rate of no key projects)."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        value = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.0001"))
    return str(plain_decimal(Decimal(value)))


def _lead_row(item) -> dict:
    lead = item.lead
    return {
        "lead_id": lead.id, "name": lead.name, "company": lead.company,
        "township_id": lead.township_id, "township_name": lead.township.name,
        "stage": lead.stage, "stage_label": str(STAGE_LABELS[lead.stage]),
        "investment_wan": _amount(lead.investment_wan), "investment_yi": yi_text(lead.investment_wan),
        "officer_name": item.officer_name, "milestone": item.milestone_label,
        "milestone_on": item.milestone_on.isoformat() if item.milestone_on else None,
        "reasons": list(item.reasons), "colour": item.colour,
    }


def _unit_row(unit) -> dict:
    return {
        "township_id": unit.township_id, "name": unit.name, "rank": unit.rank,
        "ranked": unit.mean_attainment is not None,
        "mean_attainment": as_float(unit.mean_attainment),
        "mean_attainment_text": percent(unit.mean_attainment),
        "targets": [{"metric": t.metric, "target": _amount(t.target), "actual": _amount(t.actual),
                     "attainment": as_float(t.attainment), "color": t.color,
                     "text": target_text(t, unit)} for t in unit.targets],
        "pending": {k: _amount(v) for k, v in unit.pending.items()},
        "pending_text": pending_summary(unit),
        "snapshot": dict(unit.snapshot),
        "entered": dict(unit.entered),
    }


def rank_change(rank: int | None, previous: int | None, ranked_before: bool) -> tuple[str, int | None]:
    """("↑2", 2), ("↓1", -1), ("—", 0), or ("新", None) for a unit not ranked in the previous
    issue (or when there is none); ("", None) for a unit not ranked now."""
    if rank is None:
        return "", None
    if previous is None or not ranked_before:
        return NEW, None
    delta = previous - rank
    if delta > 0:
        return f"↑{delta}", delta
    if delta < 0:
        return f"↓{-delta}", delta
    return "—", 0


def previous_issue(as_of: dt.date) -> BulletinIssue | None:
    return db.session.scalar(sa.select(BulletinIssue).where(BulletinIssue.as_of < as_of)
                             .order_by(BulletinIssue.as_of.desc()).limit(1))


def snapshot(as_of: dt.date, previous: BulletinIssue | None = None) -> dict:
    """The frozen content of the bulletin as of ``as_of`` (plain JSON values)."""
    data = bulletin_data(DistrictReader(), as_of)
    before = {}
    if previous is not None:
        before = {u["township_id"]: u for u in previous.content.get("townships", [])}
    townships = []
    for unit in data.units:
        row = _unit_row(unit)
        rank = row["rank"] if row["ranked"] else None
        old = before.get(unit.township_id)
        text, delta = rank_change(rank, old["rank"] if old else None,
                                  bool(old and old.get("ranked")))
        row["rank_change"], row["rank_delta"] = text, delta
        townships.append(row)
    totals = data.stats.totals
    orders = db.session.scalars(
        sa.select(SupervisionOrder).where(SupervisionOrder.status.in_(LIVE_STATUSES),
                                          SupervisionOrder.issued_on <= as_of)
        .order_by(SupervisionOrder.year, SupervisionOrder.number)).all()
    return {
        "format": FORMAT,
        "as_of": as_of.isoformat(),
        "year": as_of.year,
        "time_progress": as_float(data.time_progress),
        "time_progress_text": percent(data.time_progress),
        "metrics": data.metrics,
        "townships": townships,
        "counts": data.counts,
        "red": [_lead_row(item) for item in data.with_colour("red")],
        "yellow": [_lead_row(item) for item in data.with_colour("yellow")],
        "totals": {"snapshot": dict(totals.snapshot), "entered": dict(totals.entered),
                   "actuals": {k: _amount(v) for k, v in totals.actuals.items()},
                   "leads": sum(data.counts.values())},
        "pending": {k: _amount(v) for k, v in totals.pending.items()},
        "orders": [order_record(order) for order in orders],
        "previous_id": previous.id if previous else None,
    }


def publish(user: User, as_of: dt.date) -> BulletinIssue:
    """Publish the bulletin of ``as_of`` as the next issue of its year; 409 when published."""
    if not can(user, "bulletins.publish"):
        raise Forbidden(_l("只有区招商局可以发布通报"))
    if as_of > today():
        message = _l("截至日期不能晚于今天")
        raise DomainError(message, {"as_of": [message]})
    content = snapshot(as_of, previous_issue(as_of))
    for _attempt in range(5):
        existing = db.session.scalar(sa.select(BulletinIssue).where(BulletinIssue.as_of == as_of))
        if existing is not None:
            raise Conflict(_l("截至 %(d)s 的通报已发布（%(n)s）", d=as_of.isoformat(),
                              n=existing.title_number))
        number = (db.session.scalar(sa.select(sa.func.max(BulletinIssue.number))
                                    .where(BulletinIssue.year == as_of.year)) or 0) + 1
        issue = BulletinIssue(year=as_of.year, number=number, as_of=as_of, published_at=utcnow(),
                              published_by_id=user.id, content=content)
        try:
            with db.session.begin_nested():
                db.session.add(issue)
        except IntegrityError:
            continue  # another publisher took the number or the date: look again
        audit.record(user, "bulletin.publish", issue, changes={
            "as_of": [None, as_of], "number": [None, issue.title_number]})
        signals.bulletin_published.send(issue)
        return issue
    raise Conflict(_l("通报正在由他人发布，请稍后再试"))


#: Published issues' contents, parsed, kept in each process (an issue never changes once
#: published; a province's is ~27 MB of JSON, ~0.3 s to read and parse).
_contents = Kept(2)


def get_issue(issue_id: int) -> BulletinIssue | None:
    """The issue without its content (``content_of`` reads that)."""
    return db.session.scalar(sa.select(BulletinIssue).options(defer(BulletinIssue.content))
                             .where(BulletinIssue.id == issue_id))


def content_of(issue: BulletinIssue) -> dict:
    """The issue's content, read once per process (shared: read only)."""
    content = _contents.get(issue.id)
    if content is not None:
        return content
    content = db.session.scalar(sa.select(BulletinIssue.content)
                                .where(BulletinIssue.id == issue.id))
    _contents.put(issue.id, content)
    # A province's content is ~150,000 lists and dicts that never change: out of the cyclic
    # collector's walk (as crm/wsgi.py does for the app's own objects), or every full collection
    # walks them again (70-140 ms pauses in the requests that trigger one). Garbage first, so
    # that only what lives is frozen; an evicted content is still freed (no cycles in JSON).
    gc.collect()
    gc.freeze()
    return content


def list_issues() -> list[BulletinIssue]:
    """Every issue, newest as-of date first, without its content (loaded when read)."""
    return list(db.session.scalars(
        sa.select(BulletinIssue).options(defer(BulletinIssue.content))
        .order_by(BulletinIssue.as_of.desc(), BulletinIssue.id.desc())))


def latest_issue() -> BulletinIssue | None:
    return db.session.scalar(sa.select(BulletinIssue).order_by(BulletinIssue.as_of.desc()).limit(1))
