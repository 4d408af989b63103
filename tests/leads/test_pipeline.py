"""The stage rules themselves (crm/leads/pipeline.py), without a database: what a move means."""

import datetime as dt

import pytest

from crm.leads.pipeline import (
    ORDERED_STAGES,
    StageRuleError,
    check_effective_date,
    classify_move,
    next_stage,
    stages_up_to,
)

D = dt.date(2026, 6, 30)


def test_a_lead_created_at_a_stage_has_entered_the_ones_before():
    assert stages_up_to("contact") == ("contact",)
    assert stages_up_to("signed") == ("contact", "negotiation", "signed")
    assert stages_up_to("producing") == ORDERED_STAGES


def test_the_usual_next_step():
    assert [next_stage(s) for s in ORDERED_STAGES] == [
        "negotiation", "signed", "started", "producing", "producing"]
    assert next_stage("lost") == "contact"


def test_forward_enters_the_skipped_stages_then_the_target():
    move = classify_move("contact", "started")
    assert (move.kind, move.entered, move.needs_reason) == (
        "forward", ("negotiation", "signed", "started"), False)
    assert classify_move("signed", "started").entered == ("started",)


def test_back_and_reopen_need_a_reason_and_losing_does_not():
    back = classify_move("started", "negotiation")
    assert (back.kind, back.entered, back.needs_reason) == ("back", ("negotiation",), True)
    lose = classify_move("signed", "lost")
    assert (lose.kind, lose.entered, lose.needs_reason) == ("lose", ("lost",), False)


def test_reopening_enters_the_stages_beyond_the_furthest_one_reached():
    assert classify_move("lost", "started", reopen_from="negotiation").entered == ("signed", "started")
    assert classify_move("lost", "negotiation", reopen_from="signed").entered == ("negotiation",)
    move = classify_move("lost", "contact")
    assert (move.kind, move.entered, move.needs_reason) == ("reopen", ("contact",), True)


@pytest.mark.parametrize("current, target", [("signed", "signed"), ("lost", "lost"),
                                             ("contact", "finished")])
def test_same_stage_and_unknown_stage_are_refused(rules_app, current, target):
    with pytest.raises(StageRuleError) as err:
        classify_move(current, target)
    assert err.value.field == "to"


def test_effective_date_never_in_the_future_nor_before_the_last_change(rules_app):
    check_effective_date(D, D, D)
    check_effective_date(D - dt.timedelta(days=3), D, None)
    with pytest.raises(StageRuleError) as err:
        check_effective_date(D + dt.timedelta(days=1), D, None)
    assert err.value.field == "on"
    with pytest.raises(StageRuleError) as err:
        check_effective_date(D - dt.timedelta(days=2), D, D - dt.timedelta(days=1))
    assert err.value.field == "on" and (D - dt.timedelta(days=1)).isoformat() in err.value.message
