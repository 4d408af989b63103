"""One page of a list: its items, the total and where it is (API answers and list pages)."""

from dataclasses import dataclass

import sqlalchemy as sa

from crm.extensions import db


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_of(stmt: sa.Select, page: int, per_page: int, order_by, options=()) -> Page:
    """Page ``page`` of ``stmt``'s rows in ``order_by``, loaded with ``options``, and the count
    of all of them (two statements, whatever the number of rows)."""
    total = db.session.scalar(stmt.with_only_columns(sa.func.count()).order_by(None))
    items = db.session.scalars(stmt.options(*options).order_by(*order_by).limit(per_page)
                               .offset((max(page, 1) - 1) * per_page)).unique().all()
    return Page(list(items), total or 0, page, per_page)


def page_of_list(items: list, page: int, per_page: int) -> Page:
    """Page ``page`` of a list already in memory, kept between the first and the last."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 1), pages)
    return Page(items[(page - 1) * per_page:page * per_page], len(items), page, per_page)


def keep_in_range(page) -> None:
    """A list page asked for past its last page (``?page=99`` of 2): redirected to the last
    page, with the same filters; the one rule of every paginated page. ``page`` is a ``Page``
    (or the lead list's) or Flask-SQLAlchemy's pagination: both have ``page`` and ``pages``."""
    from flask import abort, redirect, request, url_for

    last = page.pages or 1
    if page.page > last:
        args = request.args.to_dict(flat=False)
        args["page"] = [str(last)]
        abort(redirect(url_for(request.endpoint, **(request.view_args or {}), **args)))
