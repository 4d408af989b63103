"""Writing the audit trail."""

from flask import has_request_context, request

from crm.audit.models import AuditEntry
from crm.extensions import db


def record(user, action: str, obj=None, *, lead_id=None, changes=None) -> AuditEntry:
    """Add an audit entry to the session (committed with the change it describes)."""
    entry = AuditEntry(
        user_id=getattr(user, "id", None),
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        lead_id=lead_id,
        changes=_jsonable(changes or {}),
        remote_addr=(request.remote_addr or "") if has_request_context() else "",
    )
    db.session.add(entry)
    return entry


def apply_changes(obj, values: dict) -> dict:
    """Set ``values`` on ``obj``; the fields that changed, as ``{field: [old, new]}`` for
    ``record``."""
    changes = {}
    for field, value in values.items():
        old = getattr(obj, field)
        if old != value:
            changes[field] = [old, value]
            setattr(obj, field, value)
    return changes


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
