"""One page of a list: its items, the total and where it is (API answers and list pages)."""

from dataclasses import dataclass


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


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
