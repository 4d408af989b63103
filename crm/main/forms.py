"""How a page runs a service for a posted form: one way for every view.

A view validates its form, then calls ``attempt``: the service's result when it succeeded (after
the success flash), or ``REFUSED`` once the service's ``DomainError`` is on the form. A refused
change is discarded, so the request commits nothing (crm/unit_of_work.py).
"""

from collections.abc import Callable
from typing import Any

from flask import abort, flash, render_template, request

from crm.errors import DomainError, Forbidden
from crm.unit_of_work import discard

#: What ``attempt`` returns when the service refused.
REFUSED = object()


def form_errors(form, exc: DomainError, default: str | None = None) -> None:
    """Put a domain error's field messages on the form's fields; the rest on the ``default``
    field, or as a flash (all of them as flashes when ``form`` is None). 403 when the service
    says the user may not. Discards the change."""
    discard()
    if isinstance(exc, Forbidden):
        abort(403)
    fallback = getattr(form, default, None) if form is not None and default else None
    placed = False
    for name, messages in (exc.fields or {}).items():
        field = (getattr(form, name, None) if form is not None else None) or fallback
        if field is not None:
            field.errors = list(field.errors) + [str(m) for m in messages]
            placed = True
    if placed:
        return
    if fallback is not None:
        fallback.errors = list(fallback.errors) + [str(exc.message)]
    elif form is None:  # a form posted from another page: every message as a flash
        for message in [str(m) for ms in exc.fields.values() for m in ms] or [str(exc.message)]:
            flash(message, "error")
    else:
        flash(str(exc.message), "error")


def attempt(form, action: Callable[[], Any], success: str | None = None, *,
            default: str | None = None, raising: tuple[type[DomainError], ...] = ()) -> Any:
    """Run ``action`` (a service call); its result, or ``REFUSED`` with the error on ``form``.
    Errors of the ``raising`` classes propagate, for a view that answers them its own way."""
    try:
        result = action()
    except raising:
        raise
    except DomainError as exc:
        form_errors(form, exc, default)
        return REFUSED
    if success:
        flash(success, "success")
    return result


def flash_form_errors(form) -> None:
    """A form posted from another page: its field errors as flashes, each with the field's label."""
    for field, messages in form.errors.items():
        label = getattr(form, field).label.text if hasattr(form, field) else field
        for message in messages:
            flash(f"{label}：{message}", "error")


def unconfirmed(question: str, action: str, cancel_url: str, *, keep: tuple[str, ...] = ()):
    """A destructive POST's confirmation step, which works without JavaScript: the confirmation
    page (``question``, a button that posts the same form again with ``confirmed=1``, and a way
    back) when the form was not confirmed, else None. The list's button asks ``confirm()``
    first when JavaScript runs (``data-confirm``) and then posts ``confirmed=1`` itself.
    ``keep`` names posted fields carried to the second post (a ``next``)."""
    if request.form.get("confirmed") == "1":
        return None
    kept = {name: request.form[name] for name in keep if request.form.get(name)}
    return render_template("confirm.html", question=question, action=action, kept=kept,
                           cancel_url=cancel_url, button=action)
