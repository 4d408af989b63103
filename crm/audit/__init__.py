"""The audit trail: every edit, who and when, never rewritten."""

from crm.audit.services import apply_changes, record

__all__ = ["apply_changes", "record"]
