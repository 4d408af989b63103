"""Claims: made by moves, 纳统 and capital entries; evidence; review with the four-eyes rule."""

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.auth.permissions import can
from crm.claims import services
from crm.claims.models import Claim
from crm.clock import today
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
from crm.leads import services as lead_services
from tests.claims.conftest import PDF, jpeg


def claims_of(lead, kind=None):
    stmt = sa.select(Claim).where(Claim.lead_id == lead.id).order_by(Claim.id)
    if kind:
        stmt = stmt.where(Claim.kind == kind)
    return db.session.scalars(stmt).all()


def upload(user, lead, kind, data=None, name="f.jpg"):
    return services.upload_attachment(user, lead, jpeg() if data is None else data, name, kind)


def test_a_forward_move_claims_every_milestone_entered(cw):
    lead = cw.lead_a
    lead_services.move_stage(cw.off_a1, lead, "started")
    made = claims_of(lead)
    assert [(c.kind, c.status, c.submitted_by_id) for c in made] == [
        ("signed", "pending", cw.off_a1.id), ("started", "pending", cw.off_a1.id)]
    assert all(c.effective_on == today() and c.township_id == cw.a.id for c in made)
    lead_services.move_stage(cw.off_a1, lead, "producing")
    assert [c.kind for c in claims_of(lead)] == ["signed", "started", "producing"]


def test_a_lead_created_at_a_later_stage_claims_its_milestones(cw):
    from tests import factories

    lead = factories.lead(cw.off_a1, cw.a, name="新项目", company="新公司", stage="started",
                          stats_included_on=today())
    assert sorted(c.kind for c in claims_of(lead)) == ["signed", "started", "stats_included"]


@pytest.mark.parametrize("kind,good,bad", [
    ("signed", "contract", "site_photo"),
    ("started", "permit", "license"),
    ("started", "site_photo", "contract"),
    ("producing", "license", "permit"),
    ("producing", "site_photo", "bank_receipt"),
    ("stats_included", "stats_proof", "contract"),
    ("funds", "bank_receipt", "other"),
])
def test_each_kind_needs_its_evidence_to_be_verified(cw, kind, good, bad):
    lead = cw.lead_a
    if kind in ("signed", "started", "producing"):
        lead_services.move_stage(cw.head_a, lead, kind)
    elif kind == "stats_included":
        lead_services.update_lead(cw.off_a1, lead, {"stats_included_on": today()}, lead.version)
    else:
        lead_services.add_funds(cw.off_a1, lead, today(), Decimal("120.5"))
    claim = claims_of(lead, kind)[-1]
    if kind == "funds":
        assert claim.amount_wan == Decimal("120.5") and claim.fund_entry_id is not None
    services.add_evidence(cw.off_a1, claim, upload(cw.off_a1, lead, bad, PDF, "x.pdf"))
    with pytest.raises(DomainError) as refused:
        services.review(cw.admin, claim, "verify")
    assert refused.value.status == 422 and "evidence" in refused.value.fields
    services.add_evidence(cw.off_a1, claim, upload(cw.off_a1, lead, good))
    services.review(cw.admin, claim, "verify")
    assert claim.status == "verified" and claim.decided_at is not None
    assert claim.reviews[-1].by_id == cw.admin.id


def test_return_needs_an_opinion_then_resubmit_and_verify(cw):
    lead = cw.lead_a
    lead_services.move_stage(cw.off_a1, lead, "signed")
    claim = claims_of(lead, "signed")[0]
    with pytest.raises(Conflict):
        services.resubmit(cw.off_a1, claim)  # pending: nothing to resubmit
    with pytest.raises(DomainError) as refused:
        services.review(cw.admin, claim, "return", "  ")
    assert refused.value.status == 422 and "opinion" in refused.value.fields
    services.review(cw.admin, claim, "return", "合同缺盖章页")
    assert claim.status == "returned"
    with pytest.raises(Conflict):
        services.review(cw.admin, claim, "verify")
    services.add_evidence(cw.off_a1, claim, upload(cw.off_a1, lead, "contract", PDF, "合同.pdf"))
    services.resubmit(cw.off_a1, claim)
    assert claim.status == "pending"
    services.review(cw.admin, claim, "verify")
    assert claim.status == "verified"
    with pytest.raises(Conflict):
        services.resubmit(cw.off_a1, claim)
    actions = db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.lead_id == lead.id, AuditEntry.action.like("claim.%")).order_by(AuditEntry.id)).all()
    assert actions == ["claim.submit", "claim.review", "claim.evidence", "claim.resubmit",
                       "claim.review"]


def test_four_eyes_in_the_policy(cw):
    reviewer = cw.reviewer
    lead = cw.lead_a
    # An admin's own move: the admin may not review it; the reviewer may.
    lead_services.move_stage(cw.admin, lead, "signed")
    claim = claims_of(lead, "signed")[0]
    assert not can(cw.admin, "claim.review", claim)
    assert can(reviewer, "claim.review", claim)
    with pytest.raises(Forbidden):
        services.review(cw.admin, claim, "verify")
    # Evidence uploaded by the reviewer... reviewers cannot upload; an admin's upload on an
    # officer's claim bars that admin.
    lead_services.move_stage(cw.off_a1, lead, "started")
    started = claims_of(lead, "started")[0]
    assert can(cw.admin, "claim.review", started)
    services.add_evidence(cw.admin, started, upload(cw.admin, lead, "permit"))
    assert not can(cw.admin, "claim.review", started)
    assert can(reviewer, "claim.review", started)
    for user in (cw.viewer, cw.head_a, cw.off_a1, cw.off_b1):
        assert not can(user, "claim.review", started)
    # Reviewers change nothing else.
    assert not can(reviewer, "lead.edit", lead) and not can(reviewer, "attachment.upload", lead)
    assert can(reviewer, "lead.view", cw.lead_b) and can(reviewer, "claims.queue")


def test_a_move_back_withdraws_the_claims_passed(cw):
    lead = cw.lead_a
    lead_services.move_stage(cw.off_a1, lead, "started")
    signed, started = claims_of(lead)
    services.add_evidence(cw.off_a1, signed, upload(cw.off_a1, lead, "contract"))
    services.review(cw.admin, signed, "verify")
    lead_services.move_stage(cw.head_a, lead, "negotiation", reason="合同解除")
    assert (signed.status, started.status) == ("withdrawn", "withdrawn")
    assert signed.reviews  # history kept
    lead_services.move_stage(cw.off_a1, lead, "signed")
    assert [c.status for c in claims_of(lead, "signed")] == ["withdrawn", "pending"]
    # Lost keeps the milestones reached.
    lead_services.move_stage(cw.off_a1, lead, "lost", lost_reason="other")
    assert claims_of(lead, "signed")[-1].status == "pending"


def test_clearing_stats_inclusion_withdraws_its_claim(cw):
    lead = cw.lead_a
    lead_services.update_lead(cw.off_a1, lead, {"stats_included_on": today()}, lead.version)
    (claim,) = claims_of(lead, "stats_included")
    assert claim.status == "pending"
    lead_services.update_lead(cw.off_a1, lead, {"stats_included_on": None}, lead.version)
    assert claim.status == "withdrawn"
    day = today() - dt.timedelta(days=3)
    lead_services.update_lead(cw.off_a1, lead, {"stats_included_on": day}, lead.version)
    assert [(c.status, c.effective_on) for c in claims_of(lead, "stats_included")][-1] == \
        ("pending", day)


def test_evidence_only_from_the_same_lead_and_only_while_open(cw):
    lead_services.move_stage(cw.off_a1, cw.lead_a, "signed")
    claim = claims_of(cw.lead_a, "signed")[0]
    other = upload(cw.head_a, cw.lead_a2, "contract")
    with pytest.raises(DomainError):
        services.add_evidence(cw.off_a1, claim, other)
    with pytest.raises(Forbidden):
        services.add_evidence(cw.off_a2, claim, upload(cw.off_a1, cw.lead_a, "contract"))


def test_refused_files_store_nothing(cw, app):
    from crm.storage import get_storage

    for data, name in ((b"", "empty.jpg"), (b"<html>hi</html>", "page.png"),
                       (b"GIF89a....", "x.gif")):
        with pytest.raises(DomainError) as refused:
            upload(cw.off_a1, cw.lead_a, "site_photo", data, name)
        assert "file" in refused.value.fields
    assert list(get_storage().keys()) == []
    with pytest.raises(DomainError) as refused:
        upload(cw.off_a1, cw.lead_a, "bogus")
    assert "kind" in refused.value.fields


def test_reused_file_is_flagged_with_the_other_lead_and_unit(cw):
    photo = jpeg((1, 2, 3))
    a = upload(cw.off_a1, cw.lead_a, "site_photo", photo)
    b = upload(cw.off_b1, cw.lead_b, "site_photo", photo)
    reused = services.reused_on([a, b])
    assert reused[a.id] == [{"lead_id": cw.lead_b.id, "township_name": "税郭镇"}]
    assert reused[b.id] == [{"lead_id": cw.lead_a.id, "township_name": "孟庄镇"}]
    assert a.storage_key == b.storage_key  # one copy stored
