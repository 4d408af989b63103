"""The project colour: each boundary, and the SQL form agrees with the Python form."""

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa

from crm.clock import today
from crm.extensions import db
from crm.leads.colour import colour_expr, lead_colour
from crm.leads.models import Lead

D = dt.date(2026, 6, 30)


def make(stage, **dates):
    lead = Lead(stage=stage, created_on=dates.pop("created_on", D - dt.timedelta(days=5)),
                last_visit_on=dates.pop("last_visit_on", D - dt.timedelta(days=1)), **dates)
    return lead


@pytest.mark.parametrize("stage,field", [("negotiation", "planned_sign_date"),
                                         ("signed", "planned_start_date"),
                                         ("started", "planned_production_date")])
@pytest.mark.parametrize("overdue,expected", [(-5, "blue"), (0, "blue"), (1, "yellow"),
                                              (30, "yellow"), (31, "red"), (200, "red")])
def test_overdue_milestone_boundaries(rules_app, stage, field, overdue, expected):
    lead = make(stage, **{field: D - dt.timedelta(days=overdue)})
    colour, reasons = lead_colour(lead, D)
    assert colour == expected
    if overdue > 0:
        assert f"已过 {overdue} 天" in reasons[0]


def test_contact_has_no_milestone_and_done_leads_no_colour(rules_app):
    assert lead_colour(make("contact", planned_sign_date=D - dt.timedelta(days=90)), D)[0] == "blue"
    assert lead_colour(make("producing"), D) == (None, [])
    assert lead_colour(make("lost"), D) == (None, [])


@pytest.mark.parametrize("days,expected", [(60, "blue"), (61, "yellow")])
def test_no_visit_for_more_than_60_days(rules_app, days, expected):
    assert lead_colour(make("contact", last_visit_on=D - dt.timedelta(days=days)), D)[0] == expected
    never = make("contact", last_visit_on=None, created_on=D - dt.timedelta(days=days))
    assert lead_colour(never, D)[0] == expected


def test_follow_up_passed_is_yellow(rules_app):
    assert lead_colour(make("contact", next_follow_up=D), D)[0] == "blue"
    assert lead_colour(make("contact", next_follow_up=D - dt.timedelta(days=1)), D)[0] == "yellow"


def test_sql_and_python_agree(world):
    """Every combination of stage, milestone, follow-up and last visit, stored then queried."""
    as_of = today()
    offsets = [None, -3, 0, 1, 30, 31]
    lead = world.lead_a
    rows = []
    for stage, milestone, follow, visit in itertools.product(
            ["contact", "negotiation", "signed", "started", "producing", "lost"],
            offsets, [None, 0, 1], [None, 60, 61]):
        def ago(n):
            return None if n is None else as_of - dt.timedelta(days=n)
        rows.append(Lead(
            name="x", company="x", company_key="x", township_id=lead.township_id, stage=stage,
            stage_changed_on=ago(100), created_on=ago(62), planned_sign_date=ago(milestone),
            planned_start_date=ago(milestone), planned_production_date=ago(milestone),
            next_follow_up=ago(follow), last_visit_on=ago(visit),
            lost_reason="other" if stage == "lost" else None,
        ))
    db.session.add_all(rows)
    db.session.commit()
    pairs = db.session.execute(sa.select(Lead, colour_expr(as_of))).all()
    assert len(pairs) > 300
    for row, sql_colour in pairs:
        assert lead_colour(row, as_of)[0] == sql_colour, (row.stage, row.planned_sign_date)
