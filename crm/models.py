"""Every model, imported in one place so the metadata is complete (Alembic, tests)."""

from crm.audit.models import AuditEntry
from crm.auth.models import ApiToken, User
from crm.bulletin.models import ScreenLink
from crm.leads.models import Blocker, Contact, FundEntry, Lead, LeadOfficer, StageChange
from crm.reminders.models import ReminderDispatch
from crm.targets.models import Target
from crm.townships.models import Township
from crm.visits.models import Visit

__all__ = [
    "ApiToken", "AuditEntry", "Blocker", "Contact", "FundEntry", "Lead", "LeadOfficer",
    "ReminderDispatch", "ScreenLink", "StageChange", "Target", "Township", "User", "Visit",
]
