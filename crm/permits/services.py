"""Changing a lead's permit checklist: add an item, edit it, mark it done.

Services validate, change, ``flush()`` and audit, and never commit (the request commits once).
Who may: the lead's editors (``can(user, "permit.edit", lead)``).
"""

import datetime as dt

from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.permissions import can
from crm.clock import today
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.inputs import DATE_MAX, DATE_MIN, clean_text
from crm.leads.models import Lead
from crm.permits.models import PERMIT_KINDS, Permit

#: The fields a change may carry (the API's PATCH names only the last three).
FIELDS = ("kind", "responsible_unit", "due_on", "done_on", "note")
UNIT_MAX, NOTE_MAX = 64, 2000


def _validate(data: dict) -> dict:
    """Cleaned ``data``; DomainError naming each field at fault."""
    errors: dict[str, list] = {}
    out = {}
    for name, value in data.items():
        if name not in FIELDS:
            continue
        if name in ("responsible_unit", "note"):
            value = clean_text(value or "").strip()
            if len(value) > (UNIT_MAX if name == "responsible_unit" else NOTE_MAX):
                errors.setdefault(name, []).append(_l("内容过长"))
        elif name == "kind":
            if value not in PERMIT_KINDS:
                errors.setdefault(name, []).append(_l("未知的手续类型"))
        elif value is not None:
            if not isinstance(value, dt.date) or not DATE_MIN <= value <= DATE_MAX:
                errors.setdefault(name, []).append(_l("日期不合理"))
            elif name == "done_on" and value > today():
                errors.setdefault(name, []).append(_l("办结日期不能晚于今天"))
        elif name == "due_on":
            errors.setdefault(name, []).append(_l("请填写完成时限"))
        out[name] = value
    if errors:
        raise DomainError(_l("请检查填写的手续信息"), errors)
    return out


def _check(user, lead: Lead) -> None:
    if not can(user, "permit.edit", lead):
        raise Forbidden(_l("您无权修改该项目的手续清单"))


def add_permit(user, lead: Lead, data: dict) -> Permit:
    """A new checklist item: ``kind`` and ``due_on`` required; ``responsible_unit``,
    ``done_on`` and ``note`` optional."""
    _check(user, lead)
    missing = {name: [_l("必填")] for name in ("kind", "due_on") if data.get(name) is None}
    if missing:
        raise DomainError(_l("请检查填写的手续信息"), missing)
    values = _validate(data)
    permit = Permit(lead_id=lead.id, created_by_id=getattr(user, "id", None),
                    responsible_unit=values.get("responsible_unit", ""),
                    note=values.get("note", ""), kind=values["kind"], due_on=values["due_on"],
                    done_on=values.get("done_on"))
    db.session.add(permit)
    db.session.flush()
    audit.record(user, "permit.add", permit, lead_id=lead.id,
                 changes={name: [None, getattr(permit, name)] for name in FIELDS})
    return permit


def update_permit(user, permit: Permit, data: dict) -> Permit:
    """Change the fields named in ``data`` (``done_on`` None: not done after all)."""
    _check(user, permit.lead)
    values = _validate(data)
    changes = audit.apply_changes(permit, values)
    if changes:
        db.session.flush()
        audit.record(user, "permit.edit", permit, lead_id=permit.lead_id, changes=changes)
    return permit


def mark_done(user, permit: Permit, on: dt.date | None = None) -> Permit:
    """The item obtained on ``on`` (today by default)."""
    return update_permit(user, permit, {"done_on": on or today()})
