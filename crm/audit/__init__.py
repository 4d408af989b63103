"""The audit trail: every edit, who and when, never rewritten."""

from crm.audit.services import record

__all__ = ["record"]
