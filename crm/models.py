"""Every model, imported in one place so the metadata is complete (Alembic, tests)."""

from crm.audit.models import AuditEntry
from crm.auth.models import ApiToken, LoginAttempt, RateWindow, User
from crm.bulletin.models import BulletinIssue, ScreenLink
from crm.channels.models import Channel, ChannelDispatch, ChannelSend
from crm.claims.models import Attachment, Claim, ClaimEvidence, ClaimReview
from crm.companies.models import Company, Dispute
from crm.industries.models import Industry
from crm.leads.models import Blocker, Contact, FundEntry, Lead, LeadOfficer, StageChange
from crm.moveback.models import MoveBackRequest
from crm.permits.models import Permit
from crm.reminders.models import ReminderDispatch
from crm.stats import cache as _stats_cache  # noqa: F401  (its write listener, with the models)
from crm.stats.models import StatsCache, StatsVersion
from crm.supervision.models import SupervisionAnswer, SupervisionCounter, SupervisionOrder
from crm.targets.models import Target
from crm.townships.models import Township
from crm.visits.models import Visit

__all__ = [
    "ApiToken", "Attachment", "AuditEntry", "Blocker", "BulletinIssue", "Channel",
    "ChannelDispatch", "ChannelSend", "Claim", "ClaimEvidence", "ClaimReview", "Company",
    "Contact", "Dispute", "FundEntry", "Industry", "Lead", "LeadOfficer", "LoginAttempt",
    "MoveBackRequest", "Permit", "RateWindow",
    "ReminderDispatch", "ScreenLink", "StageChange", "StatsCache", "StatsVersion", "Target",
    "SupervisionAnswer", "SupervisionCounter", "SupervisionOrder", "Township", "User", "Visit",
]
