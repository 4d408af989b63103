"""The retry button of an outbox page (mail, group robots): which rows a retry may take.

Both outboxes keep a row per message with ``status``, ``last_error`` and ``next_attempt_at``
(a lease while a process sends it, or the time of the next try after a failure).
"""

import sqlalchemy as sa
from flask import flash, redirect
from flask_babel import gettext as _
from flask_login import current_user

from crm.audit import record
from crm.auth.permissions import require
from crm.clock import utcnow
from crm.extensions import db


def wanted(form, model) -> list[int]:
    """The rows a retry form names: one (``dispatch_id``), or every failed one (``scope``)."""
    if form.dispatch_id.data:
        return [form.dispatch_id.data]
    if form.scope.data == "failed":
        return list(db.session.scalars(sa.select(model.id).where(model.failed())))
    return []


def retryable(model, ids) -> list[int]:
    """Of ``ids``, the pending rows no process is sending right now (a lease has no error)."""
    if not ids:
        return []
    leased = sa.and_(model.last_error == "", model.next_attempt_at.is_not(None),
                     model.next_attempt_at > utcnow())
    return list(db.session.scalars(
        sa.select(model.id).where(model.id.in_(ids), model.status == "pending", sa.not_(leased))
        .order_by(model.id)))


def retry_page(form, model, retry_now_and_commit, *, permission: str, action: str, back: str,
               nothing: str, done: str, partly: str):
    """The retry button's view, for an outbox ``model`` (an ``OutboxRow``): the rows the form
    may retry now, sent, audited as ``action``, a message, then back to the log. ``nothing`` is
    said when no row may be retried; ``done`` or ``partly`` after a retry (translated, not yet
    filled: ``%(sent)s``, ``%(failed)s``, ``%(waiting)s``, ``%(error)s``)."""
    require(current_user, permission)
    if not form.validate_on_submit():
        flash(_("请求有误，请刷新页面后重试"), "error")
    elif not (ids := retryable(model, wanted(form, model))):
        flash(nothing, "info")
    else:
        result = retry_now_and_commit(ids)
        record(current_user, action, changes={"ids": ids, "sent": result.sent,
                                              "failed": result.failed})
        values = {"sent": result.sent, "failed": result.failed,
                  "waiting": getattr(result, "waiting", 0), "error": (result.errors or [""])[0]}
        if values["failed"] or values["waiting"]:
            flash(partly % values, "error")
        else:
            flash(done % values, "success")
    return redirect(back)
