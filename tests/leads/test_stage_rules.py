"""Every stage rule, through the service the pages and the API share."""

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.clock import today
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead, StageChange
from tests import factories


def entries(lead):
    return [(c.from_stage, c.to_stage, c.effective_on, c.implied) for c in db.session.scalars(
        sa.select(StageChange).where(StageChange.lead_id == lead.id).order_by(StageChange.id))]


def days_ago(n):
    return today() - dt.timedelta(days=n)


def test_created_mid_way_counts_earlier_stages_as_entered_that_day(world):
    lead = factories.lead(world.head_a, world.a, stage="signed", created_on=days_ago(20))
    assert entries(lead) == [
        (None, "contact", days_ago(20), True),
        ("contact", "negotiation", days_ago(20), True),
        ("negotiation", "signed", days_ago(20), False),
    ]


def test_creation_refuses_lost_stage_and_future_date(world):
    with pytest.raises(DomainError) as err:
        factories.lead(world.head_a, world.a, stage="lost")
    assert "stage" in err.value.fields
    with pytest.raises(DomainError) as err:
        factories.lead(world.head_a, world.a, created_on=today() + dt.timedelta(days=1))
    assert "created_on" in err.value.fields


def test_forward_skip_enters_skipped_stages_the_same_day(world):
    lead = world.lead_a
    services.move_stage(world.off_a1, lead, "started", on=days_ago(3))
    assert lead.stage == "started"
    assert entries(lead)[1:] == [
        ("contact", "negotiation", days_ago(3), True),
        ("negotiation", "signed", days_ago(3), True),
        ("signed", "started", days_ago(3), False),
    ]


def test_effective_date_never_in_future_nor_before_last_change(world):
    lead = world.lead_a
    with pytest.raises(DomainError) as err:
        services.move_stage(world.off_a1, lead, "negotiation", on=today() + dt.timedelta(days=1))
    assert "on" in err.value.fields
    with pytest.raises(DomainError) as err:
        services.move_stage(world.off_a1, lead, "negotiation", on=days_ago(11))  # created 10 ago
    assert "on" in err.value.fields
    services.move_stage(world.off_a1, lead, "negotiation", on=days_ago(10))  # same day is fine
    services.move_stage(world.off_a1, lead, "signed")  # default: today
    assert entries(lead)[-1][2] == today()


def test_back_move_needs_head_and_reason(world):
    lead = world.lead_a
    services.move_stage(world.off_a1, lead, "signed", on=days_ago(5))
    with pytest.raises(Forbidden):
        services.move_stage(world.off_a1, lead, "negotiation", reason="投资方变卦")
    with pytest.raises(DomainError) as err:
        services.move_stage(world.head_a, lead, "negotiation")
    assert "reason" in err.value.fields
    services.move_stage(world.head_a, lead, "negotiation", reason="协议需重谈")
    assert lead.stage == "negotiation"
    last = entries(lead)[-1]
    assert last[:2] == ("signed", "negotiation") and not last[3]


def test_lost_needs_a_reason_from_the_list(world):
    lead = world.lead_a
    with pytest.raises(DomainError) as err:
        services.move_stage(world.off_a1, lead, "lost")
    assert "lost_reason" in err.value.fields
    with pytest.raises(DomainError):
        services.move_stage(world.off_a1, lead, "lost", lost_reason="bored")
    services.move_stage(world.off_a1, lead, "lost", lost_reason="relocated")
    assert (lead.stage, lead.lost_reason) == ("lost", "relocated")


def test_reopen_needs_head_and_reason_and_clears_lost_reason(world):
    lead = world.lead_a
    services.move_stage(world.off_a1, lead, "negotiation", on=days_ago(4))
    services.move_stage(world.off_a1, lead, "lost", on=days_ago(2), lost_reason="terms_failed")
    with pytest.raises(Forbidden):
        services.move_stage(world.off_a1, lead, "negotiation", reason="重新接洽")
    with pytest.raises(DomainError):
        services.move_stage(world.head_a, lead, "negotiation")
    services.move_stage(world.head_a, lead, "signed", reason="投资方回归")
    assert (lead.stage, lead.lost_reason) == ("signed", None)
    # reopening beyond the furthest stage reached enters the stage in between... here, signed
    assert entries(lead)[-1][:2] == ("lost", "signed")


def test_moving_to_the_same_stage_is_refused(world):
    with pytest.raises(DomainError):
        services.move_stage(world.off_a1, world.lead_a, "contact")


def test_history_is_never_rewritten(world):
    lead = world.lead_a
    services.move_stage(world.off_a1, lead, "signed", on=days_ago(5))
    before = entries(lead)
    services.move_stage(world.head_a, lead, "contact", reason="重新评估")
    services.move_stage(world.off_a1, lead, "negotiation")
    after = entries(lead)
    assert after[: len(before)] == before
    first_signed = min(e[2] for e in after if e[1] == "signed")
    assert first_signed == days_ago(5)


def test_stale_version_is_refused_and_nothing_changes(world):
    lead = world.lead_a
    services.update_lead(world.off_a1, lead, {"name": "新名称"}, version=1)
    db.session.commit()
    from crm.errors import Conflict

    with pytest.raises(Conflict) as err:
        services.update_lead(world.head_a, lead, {"name": "另一个名称"}, version=1)
    assert err.value.changes["name"] == ["宠物食品生产基地", "新名称"]
    db.session.rollback()
    assert db.session.get(Lead, lead.id).name == "新名称"
