"""Reviewers' daily mail: claims pending more than 5 workdays, exactly once per person and day."""

import datetime as dt
import email
import email.policy

import sqlalchemy as sa

from crm.claims.models import Claim
from crm.extensions import db
from crm.leads import services as lead_services
from crm.reminders import dispatch
from crm.reminders.models import ReminderDispatch

#: A Monday with ordinary workdays around it (no holiday within two weeks before).
MONDAY = dt.date(2026, 3, 16)


def test_claims_pending_over_five_workdays_mailed_once(app, cw):
    lead_services.move_stage(cw.off_a1, cw.lead_a, "signed")
    lead_services.move_stage(cw.off_b1, cw.lead_b, "signed")
    old, fresh = db.session.scalars(sa.select(Claim).order_by(Claim.id)).all()
    # Submitted on Friday the 6th (6 workdays before Monday the 16th) and on Monday the 9th (5).
    old.submitted_at = dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC)
    fresh.submitted_at = dt.datetime(2026, 3, 9, 2, 0, tzinfo=dt.UTC)
    db.session.commit()
    first = dispatch.run("review", MONDAY)
    second = dispatch.run("review", MONDAY)
    assert (first.sent, second.sent, second.skipped) == (1, 0, 1)
    row = db.session.scalar(sa.select(ReminderDispatch).where(ReminderDispatch.kind == "review"))
    assert row.user_id == cw.reviewer.id and row.status == "sent"
    text = email.message_from_string(row.message, policy=email.policy.default) \
        .get_body(("plain",)).get_content()
    assert cw.lead_a.name in text and f"/claims/{old.id}" in text
    assert f"/claims/{fresh.id}" not in text and cw.lead_b.name not in text
    assert dispatch.run("review", dt.date(2026, 3, 15)).not_workday  # a Sunday
