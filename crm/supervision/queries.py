"""Reading supervision orders: what a user may see, filters, counts per unit and level."""

import datetime as dt

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload, selectinload

from crm.auth.models import User
from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.leads.models import Lead
from crm.paging import Page, page_of
from crm.supervision.models import LEVELS, LIVE_STATUSES, SupervisionAnswer, SupervisionOrder
from crm.townships.models import Township


def visible_orders(user: User) -> sa.Select:
    """SELECT of the orders on leads ``user`` may see."""
    return scope_leads(
        sa.select(SupervisionOrder).join(Lead, Lead.id == SupervisionOrder.lead_id), user)


#: An order with what its pages show: its lead, unit and answers (with files and authors).
_LOADED = (joinedload(SupervisionOrder.lead), joinedload(SupervisionOrder.township),
           selectinload(SupervisionOrder.answers).selectinload(SupervisionAnswer.files),
           selectinload(SupervisionOrder.answers).joinedload(SupervisionAnswer.by))


def _loaded(stmt: sa.Select) -> sa.Select:
    return stmt.options(*_LOADED)


def _filtered(user: User, *, status=None, level=None, township_id=None, lead_id=None,
              issued_from: dt.date | None = None, issued_to: dt.date | None = None) -> sa.Select:
    stmt = visible_orders(user)
    if status == "live":
        stmt = stmt.where(SupervisionOrder.status.in_(LIVE_STATUSES))
    elif status:
        stmt = stmt.where(SupervisionOrder.status == status)
    if level:
        stmt = stmt.where(SupervisionOrder.level == level)
    if township_id:
        stmt = stmt.where(SupervisionOrder.township_id == township_id)
    if lead_id:
        stmt = stmt.where(SupervisionOrder.lead_id == lead_id)
    if issued_from:
        stmt = stmt.where(SupervisionOrder.issued_on >= issued_from)
    if issued_to:
        stmt = stmt.where(SupervisionOrder.issued_on <= issued_to)
    return stmt


_NEWEST_FIRST = (SupervisionOrder.year.desc(), SupervisionOrder.number.desc())


def list_orders(user: User, *, limit: int | None = None, **filters) -> list[SupervisionOrder]:
    """Every order ``user`` may see that the filters (``_filtered``'s) let through, newest first."""
    stmt = _loaded(_filtered(user, **filters)).order_by(*_NEWEST_FIRST)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt).unique())


def order_page(user: User, page: int, per_page: int, **filters) -> Page:
    """One page of ``list_orders``: a count and the page's orders (a province has thousands)."""
    return page_of(_filtered(user, **filters), page, per_page, _NEWEST_FIRST, _LOADED)


def get_order_or_404(order_id: int, user: User) -> SupervisionOrder:
    """An order on a lead the user may see, else 404."""
    order = db.session.scalar(_loaded(visible_orders(user).where(SupervisionOrder.id == order_id)))
    if order is None:
        abort(404)
    return order


def counts(user: User, status: str | None = "live") -> list[dict]:
    """Per unit: the number of orders at each level (live ones by default), units with none left
    out; ordered by unit."""
    stmt = scope_leads(
        sa.select(Township.id, Township.name, SupervisionOrder.level, sa.func.count())
        .select_from(SupervisionOrder)
        .join(Lead, Lead.id == SupervisionOrder.lead_id)
        .join(Township, Township.id == SupervisionOrder.township_id)
        .group_by(Township.id, Township.name, SupervisionOrder.level)
        .order_by(Township.id), user)
    if status == "live":
        stmt = stmt.where(SupervisionOrder.status.in_(LIVE_STATUSES))
    elif status:
        stmt = stmt.where(SupervisionOrder.status == status)
    rows: dict[int, dict] = {}
    for township_id, name, level, n in db.session.execute(stmt):
        row = rows.setdefault(township_id, {"township_id": township_id, "name": name,
                                            **dict.fromkeys(LEVELS, 0), "total": 0})
        row[level] += n
        row["total"] += n
    return list(rows.values())


def live_orders_by_lead(lead_ids) -> dict[int, list[SupervisionOrder]]:
    """Live orders of the given leads (for lists that show them beside each lead)."""
    out: dict[int, list] = {}
    if not lead_ids:
        return out
    for order in db.session.scalars(
            sa.select(SupervisionOrder).where(SupervisionOrder.lead_id.in_(list(lead_ids)),
                                              SupervisionOrder.status.in_(LIVE_STATUSES))
            .order_by(SupervisionOrder.id)):
        out.setdefault(order.lead_id, []).append(order)
    return out


def order_record(order: SupervisionOrder) -> dict:
    """An order as plain JSON values (the bulletin's frozen copy, mails)."""
    return {
        "id": order.id, "number": order.number_text, "level": order.level,
        "lead_id": order.lead_id, "lead_name": order.lead.name if order.lead else "",
        "township_id": order.township_id,
        "township_name": order.township.name if order.township else "",
        "reason": order.reason, "issued_on": order.issued_on.isoformat(),
        "due_on": order.due_on.isoformat(), "status": order.status,
    }
