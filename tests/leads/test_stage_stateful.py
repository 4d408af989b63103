"""A hypothesis state machine over the stage services, checking the stage invariants each step.

Leads are created at any active stage and moved forward (with skips), back and reopened (by the
head, with a reason), lost (with a reason), on effective dates that only move forward. After every
step: the stage history only grows and no row ever changes; each lead's latest change is its stage;
the services accept exactly what the rules allow; and the statistics engine agrees with a model:
first entries form a prefix of the stages in date order, entered counts never fall as steps are
added, funnel counts are never negative and add up.
"""

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from crm.clock import today
from crm.errors import DomainError
from crm.extensions import db
from crm.leads import pipeline, services
from crm.leads.models import Lead, StageChange
from crm.stats.queries import district_stats, first_entries
from tests import factories

ACTIVE = pipeline.ORDERED_STAGES
RANK = pipeline.STAGE_RANK
#: Frozen "now": noon in Shanghai, so every effective date below lies in one year.
NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
YEAR_START = dt.date(2026, 1, 1)
FIGURES = {"examples": 0, "steps": 0, "accepted": 0, "refused": 0, "leads": 0}


@pytest.fixture
def db_kind():
    """SQLite in a temporary file is enough here: the engine's SQL runs on PostgreSQL elsewhere."""
    return "sqlite"


class StageMachine(RuleBasedStateMachine):
    leads = Bundle("leads")

    def __init__(self):
        super().__init__()
        FIGURES["examples"] += 1
        self.model = {}  # lead id → {"stage", "furthest", "last_on"}
        self.history = {}  # stage change id → its values
        self.previous_entered = dict.fromkeys(ACTIVE, 0)

    @initialize()
    def unit(self):
        n = FIGURES["examples"]
        self.township = factories.township(f"单位{n}")
        self.head = factories.user(f"head{n}", "township_head", self.township)
        self.officer = factories.user(f"officer{n}", "officer", self.township)
        db.session.commit()

    @rule(target=leads, stage=st.sampled_from(ACTIVE), day=st.integers(0, 200))
    def create(self, stage, day):  # each company named once in the database: no 撞单
        created_on = YEAR_START + dt.timedelta(days=day)
        lead = factories.lead(self.officer, self.township, company=f"公司{FIGURES['leads']}",
                              stage=stage, created_on=created_on, investment_wan=Decimal(20000))
        db.session.commit()
        FIGURES["leads"] += 1
        self.model[lead.id] = {"stage": stage, "furthest": RANK[stage], "last_on": created_on}
        return lead.id

    @rule(lead_id=leads, to=st.sampled_from(pipeline.STAGES), by_head=st.booleans(),
          days=st.integers(-3, 40), reason=st.sampled_from(["", "投资方重新洽谈"]),
          lost_reason=st.sampled_from([None, *pipeline.LOST_REASONS]))
    def move(self, lead_id, to, by_head, days, reason, lost_reason):
        FIGURES["steps"] += 1
        state = self.model[lead_id]
        on = min(state["last_on"] + dt.timedelta(days=days), today() + dt.timedelta(days=1))
        lead = db.session.get(Lead, lead_id)
        user = self.head if by_head else self.officer
        allowed = self._allowed(state, to, by_head, on, reason, lost_reason)
        try:
            services.move_stage(user, lead, to, on=on, reason=reason, lost_reason=lost_reason)
            db.session.commit()
        except DomainError:
            db.session.rollback()
            FIGURES["refused"] += 1
            assert not allowed, f"refused a move the rules allow: {state} → {to} on {on}"
            return
        FIGURES["accepted"] += 1
        assert allowed, f"accepted a move the rules forbid: {state} → {to} on {on}"
        state.update(stage=to, last_on=on)
        if to in RANK:
            state["furthest"] = max(state["furthest"], RANK[to])

    @staticmethod
    def _allowed(state, to, by_head, on, reason, lost_reason) -> bool:
        current = state["stage"]
        if to == current or on > today() or on < state["last_on"]:
            return False
        if to == pipeline.LOST:
            return lost_reason is not None
        going_back = current == pipeline.LOST or RANK[to] < RANK[current]
        return not going_back or (by_head and bool(reason))

    @invariant()
    def history_only_grows(self):
        rows = {c.id: (c.lead_id, c.from_stage, c.to_stage, c.effective_on, c.implied, c.reason,
                       c.lost_reason)
                for c in db.session.scalars(
                    sa.select(StageChange).join(Lead).where(Lead.township_id == self.township.id))}
        for change_id, values in self.history.items():
            assert rows.get(change_id) == values, "a stage change was rewritten or deleted"
        self.history = rows

    @invariant()
    def latest_change_is_the_stage(self):
        if not self.model:
            return
        latest = {}
        for change in db.session.scalars(
                sa.select(StageChange).where(StageChange.lead_id.in_(list(self.model)))
                .order_by(StageChange.effective_on, StageChange.id)):
            latest[change.lead_id] = change
        leads = {lead.id: lead for lead in db.session.scalars(
            sa.select(Lead).where(Lead.id.in_(list(self.model))))}
        for lead_id, state in self.model.items():
            change, lead = latest[lead_id], leads[lead_id]
            assert change.to_stage == lead.stage == state["stage"]
            assert lead.stage_changed_on == change.effective_on == state["last_on"]

    @invariant()
    def first_entries_are_monotone(self):
        if not self.model:
            return
        fe = first_entries(today())
        rows = db.session.execute(sa.select(fe.c.lead_id, fe.c.stage, fe.c.first_on)
                                  .where(fe.c.lead_id.in_(list(self.model)))).all()
        per_lead: dict[int, dict] = {}
        for lead_id, stage, first_on in rows:
            per_lead.setdefault(lead_id, {})[stage] = first_on
        for lead_id, state in self.model.items():
            firsts = per_lead[lead_id]
            # Reached a stage → reached every earlier one, no later than it.
            assert list(firsts) and sorted(firsts, key=RANK.get) == list(ACTIVE[: len(firsts)])
            assert len(firsts) == state["furthest"] + 1
            dates = [firsts[s] for s in ACTIVE[: len(firsts)]]
            assert dates == sorted(dates)

    @invariant()
    def funnel_counts_agree(self):
        stats = district_stats(self.head, NOW.year, today(), township_ids=[self.township.id])
        unit = stats.unit(self.township.id)
        counts = [*unit.snapshot.values(), *unit.entered.values(), *unit.reached.values()]
        assert all(n >= 0 for n in counts)
        assert sum(unit.snapshot.values()) == len(self.model)
        for stage in pipeline.STAGES:
            assert unit.snapshot[stage] == sum(s["stage"] == stage for s in self.model.values())
        for stage in ACTIVE:
            reached = sum(s["furthest"] >= RANK[stage] for s in self.model.values())
            assert unit.entered[stage] == reached == unit.reached[stage]
            assert unit.entered[stage] >= self.previous_entered[stage], "an entered count fell"
        entered = [unit.entered[s] for s in ACTIVE]
        assert entered == sorted(entered, reverse=True)
        for value in unit.conversion.values():
            assert value is None or 0 <= value <= 1
        self.previous_entered = dict(unit.entered)


@pytest.mark.slow  # 50 random workflows of 20 moves each: minutes on 2 cores
def test_stage_workflow_keeps_its_invariants(app):
    for key in FIGURES:
        FIGURES[key] = 0
    with time_machine.travel(NOW, tick=False):
        run_state_machine_as_test(StageMachine, settings=settings(
            max_examples=50, stateful_step_count=20, deadline=None, derandomize=True,
            database=None, suppress_health_check=[HealthCheck.too_slow]))
    print(f"\nstage state machine: {FIGURES['examples']} examples, {FIGURES['leads']} leads, "
          f"{FIGURES['steps']} moves ({FIGURES['accepted']} accepted, {FIGURES['refused']} refused "
          "as the rules say), invariants held after every step")
    assert FIGURES["accepted"] > 50 and FIGURES["refused"] > 20
