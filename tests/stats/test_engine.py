"""The statistics engine against numbers computed by hand (the statistics and target rules).

The world of this module, unit A (孟庄镇), year 2025, as of 2025-06-30:

| lead | created      | moves                                                     | 万元    |
|------|--------------|-----------------------------------------------------------|---------|
| L1   | 01-10 contact| neg 02-01, signed 03-01                                   | 20 000  |
| L2   | 02-01 contact| started 04-01 (skips neg and signed: reached that day)   | 150 000 |
| L3   | 01-05 neg    | lost 03-10                                                | 5 000   |
| L4   | 01-20 contact| neg 02-10, signed 03-01, back to neg 04-01, signed 05-01  | 600 000 |
| L5   | 2024-11-01   | neg 2025-01-15 (created in another year)                  | 10 000  |
| L6   | 07-05 contact| (after the as-of date)                                    | 0       |
| L7   | 03-01 signed | producing 06-30 (skips started)                           | 10 000  |
"""

import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead
from crm.stats.queries import district_stats, rank_units, target_colour, time_progress
from crm.targets.models import Target
from crm.visits.services import log_visit
from tests import factories
from tests.querycount import count_queries

AS_OF = dt.date(2025, 6, 30)


def d(month, day, year=2025):
    return dt.date(year, month, day)


@pytest.fixture
def scenario(world):
    w, admin = world, world.admin
    # The world's own leads are created today (2026): outside 2025 entirely.

    def lead(name, created, inv, stage="contact", **kw):
        return factories.lead(admin, w.a, name=name, company=name, created_on=created,
                              investment_wan=inv, stage=stage, **kw)

    def move(lead_, to, on, **kw):
        services.move_stage(admin, lead_, to, on=on, **kw)

    l1 = lead("L1", d(1, 10), 20000, planned_start_date=d(5, 1))
    move(l1, "negotiation", d(2, 1))
    move(l1, "signed", d(3, 1))
    l2 = lead("L2", d(2, 1), 150000, planned_start_date=d(3, 15), stats_included_on=d(5, 1))
    move(l2, "started", d(4, 1))
    l3 = lead("L3", d(1, 5), 5000, stage="negotiation")
    move(l3, "lost", d(3, 10), lost_reason="terms_failed")
    l4 = lead("L4", d(1, 20), 600000, planned_start_date=d(7, 15))
    move(l4, "negotiation", d(2, 10))
    move(l4, "signed", d(3, 1))
    move(l4, "negotiation", d(4, 1), reason="协议需重谈")
    move(l4, "signed", d(5, 1))
    l5 = lead("L5", d(11, 1, 2024), 10000)
    move(l5, "negotiation", d(1, 15))
    lead("L6", d(7, 5), 0)
    l7 = lead("L7", d(3, 1), 10000, stage="signed", planned_start_date=d(6, 1),
              stats_included_on=d(7, 10))
    move(l7, "producing", d(6, 30))
    services.add_funds(admin, l1, d(4, 1), Decimal(5000))
    services.add_funds(admin, l4, d(6, 30), Decimal(39000))
    services.add_funds(admin, l4, d(7, 1), Decimal(100000))
    services.add_funds(admin, l3, d(2, 1), Decimal(1000))
    for lead_, on in ((l1, d(2, 1)), (l1, d(6, 30)), (l5, d(12, 1, 2024)), (l2, d(7, 1))):
        log_visit(admin, lead_, {"kind": "visit", "summary": "走访", "visited_on": on})
    # Unit B: one lead created in the period; unit C: no targets.
    factories.lead(admin, w.b, name="B1", company="B1", created_on=d(3, 1), investment_wan=1)
    w.c = factories.township("西王庄镇")
    for unit, metric, value in ((w.a, "signed_100m", 10), (w.a, "new_leads", 5),
                                (w.a, "visits", 20), (w.b, "new_leads", 2),
                                (w.a, "signed_1b", 0)):
        db.session.add(Target(township_id=unit.id, year=2025, metric=metric, value=value))
    db.session.commit()
    return w


def test_time_progress_and_leap_year():
    assert time_progress(2025, AS_OF) == Fraction(181, 365)
    assert round(float(time_progress(2026, dt.date(2026, 6, 30))), 4) == 0.4959
    assert time_progress(2024, dt.date(2024, 2, 29)) == Fraction(60, 366)
    assert time_progress(2024, dt.date(2024, 12, 31)) == 1
    assert time_progress(2025, dt.date(2025, 1, 1)) == Fraction(1, 365)
    assert time_progress(2025, dt.date(2026, 3, 1)) == 1  # a past year is complete


def test_target_colour_boundaries(rules_app):
    p = time_progress(2026, dt.date(2026, 3, 14))
    assert p == Fraction(1, 5)
    assert target_colour(Fraction(1, 5), p) == "blue"  # a = p
    assert target_colour(Fraction(1, 5) - Fraction(1, 10**6), p) == "yellow"
    assert target_colour(Fraction(1, 10), p) == "yellow"  # exactly p − 0.10
    assert target_colour(Fraction(1, 10) - Fraction(1, 10**6), p) == "red"
    assert target_colour(None, p) is None


def test_snapshot_entered_and_target_actuals(scenario):
    stats = district_stats(scenario.admin, 2025, AS_OF)
    a = stats.unit(scenario.a.id)
    assert a.snapshot == {"contact": 0, "negotiation": 1, "signed": 2, "started": 1,
                          "producing": 1, "lost": 1}
    assert a.entered == {"contact": 5, "negotiation": 6, "signed": 4, "started": 2,
                         "producing": 1}
    assert {k: a.actuals[k] for k in a.actuals} == {
        "new_leads": 5, "signed_100m": 4, "signed_1b": 2, "signed_5b": 1, "started_100m": 2,
        "producing": 1, "signed_investment_wan": Decimal(780000), "visits": 2,
        "funds_arrived_wan": Decimal(45000),
        "stats_included_investment_wan": Decimal(150000),  # L2 (L7's 纳统 is after the date)
    }


def test_cohort_conversion_and_velocity(scenario):
    a = district_stats(scenario.admin, 2025, AS_OF).unit(scenario.a.id)
    assert a.reached == {"contact": 5, "negotiation": 5, "signed": 4, "started": 2,
                         "producing": 1}
    assert a.conversion == {
        "contact_negotiation": 1, "negotiation_signed": Fraction(4, 5),
        "signed_started": Fraction(1, 2), "started_producing": Fraction(1, 2),
        "contact_producing": Fraction(1, 5),
    }
    assert a.velocity == {"contact_negotiation": 21.5, "negotiation_signed": 9.5,
                          "signed_started": 60.5, "started_producing": 0.0}


def test_rates(scenario):
    a = district_stats(scenario.admin, 2025, AS_OF).unit(scenario.a.id)
    assert a.start_rate == Fraction(2, 3)
    assert a.stats_inclusion_rate == Fraction(1, 2)
    assert a.funds_arrival_rate == Fraction(44000, 780000)


def test_zero_denominators_are_none(scenario):
    c = district_stats(scenario.admin, 2025, AS_OF).unit(scenario.c.id)
    assert c.start_rate is None and c.stats_inclusion_rate is None
    assert c.funds_arrival_rate is None
    assert set(c.conversion.values()) == {None}
    assert set(c.velocity.values()) == {None}


def test_targets_colours_and_ranking_ties(scenario):
    stats = district_stats(scenario.admin, 2025, AS_OF)
    a = stats.unit(scenario.a.id)
    by_metric = {t.metric: t for t in a.targets}
    assert (by_metric["signed_100m"].attainment, by_metric["signed_100m"].color) == (
        Fraction(2, 5), "yellow")
    assert (by_metric["new_leads"].attainment, by_metric["new_leads"].color) == (1, "blue")
    assert (by_metric["visits"].attainment, by_metric["visits"].color) == (
        Fraction(1, 10), "red")
    assert by_metric["signed_1b"].attainment is None  # a zero target
    assert a.mean_attainment == Fraction(1, 2)
    b = stats.unit(scenario.b.id)
    assert b.mean_attainment == Fraction(1, 2)
    # a tie shares the rank and is ordered by name; units without targets come last by name,
    # not ranked (未设目标)
    ranking = [(u.name, u.rank) for u in stats.units]
    assert ranking == [("孟庄镇", 1), ("税郭镇", 1), ("西王庄镇", None)]


def test_an_earlier_as_of_date_sees_the_past(scenario):
    a = district_stats(scenario.admin, 2025, d(3, 31)).unit(scenario.a.id)
    # L4 had signed on 03-01 and not yet gone back; L7 was signed; L2 still in contact.
    assert a.snapshot == {"contact": 1, "negotiation": 1, "signed": 3, "started": 0,
                          "producing": 0, "lost": 1}
    assert a.entered["signed"] == 3


def test_head_sees_only_their_unit(scenario):
    stats = district_stats(scenario.head_b, 2025, AS_OF)
    assert [u.township_id for u in stats.units] == [scenario.b.id]
    assert stats.units[0].actuals["new_leads"] == 1


def test_rank_units_without_targets_by_name():
    from crm.stats.results import UnitStats

    units = rank_units([UnitStats(1, "乙", ""), UnitStats(2, "甲", "")])
    assert [(u.name, u.rank) for u in units] == [("乙", None), ("甲", None)]


def test_stats_api_shape_and_numbers(client, scenario):
    from crm.auth.services import issue_token

    token = issue_token(scenario.viewer)
    head = issue_token(scenario.head_b)
    db.session.commit()
    r = client.get("/api/v1/stats/townships?year=2025&as_of=2025-06-30",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    body = r.get_json()
    assert (body["year"], body["as_of"], body["time_progress"]) == (2025, "2025-06-30", 0.4959)
    a = next(t for t in body["townships"] if t["township_id"] == scenario.a.id)
    assert a["rank"] == 1 and a["name"] == "孟庄镇"
    assert a["snapshot"] == {"contact": 0, "negotiation": 1, "signed": 2, "started": 1,
                             "producing": 1, "lost": 1}
    assert a["entered"] == {"contact": 5, "negotiation": 6, "signed": 4, "started": 2,
                            "producing": 1}
    assert a["conversion"] == {"contact_negotiation": 1.0, "negotiation_signed": 0.8,
                               "signed_started": 0.5, "started_producing": 0.5,
                               "contact_producing": 0.2}
    assert (a["start_rate"], a["stats_inclusion_rate"], a["funds_arrival_rate"]) == (
        0.6667, 0.5, 0.0564)
    assert {"metric": "signed_100m", "target": 10, "actual": 4, "attainment": 0.4,
            "color": "yellow"} in a["targets"]
    c = next(t for t in body["townships"] if t["township_id"] == scenario.c.id)
    assert c["start_rate"] is None and c["conversion"]["contact_producing"] is None
    only_b = client.get("/api/v1/stats/townships?year=2025&as_of=2025-06-30",
                        headers={"Authorization": f"Bearer {head}"}).get_json()
    assert [t["township_id"] for t in only_b["townships"]] == [scenario.b.id]
    bad = client.get("/api/v1/stats/townships?as_of=2025-02-30",
                     headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 422


def test_drill_down_lists_the_leads_behind_a_number(client, auth, scenario):
    auth.login("a-head")
    text = client.get(f"/leads/?township_id={scenario.a.id}&metric=signed_1b&year=2025"
                      "&as_of=2025-06-30").get_data(as_text=True)
    assert ">L2<" in text and ">L4<" in text and ">L1<" not in text
    text = client.get(f"/leads/?township_id={scenario.a.id}&metric=snapshot_lost&year=2025"
                      "&as_of=2025-06-30").get_data(as_text=True)
    assert ">L3<" in text and ">L2<" not in text


def test_stats_api_query_count_does_not_grow(client, world, cache_today):
    from crm.auth.services import issue_token

    cache_today(dt.date(2025, 12, 31))  # the as-of date asked for is stored

    token = issue_token(world.admin)
    db.session.commit()

    def queries():
        with count_queries() as c:
            r = client.get("/api/v1/stats/townships?year=2025&as_of=2025-12-31",
                           headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
        return c["n"]

    def grow(n):
        for i in range(n):
            lead = factories.lead(world.admin, world.a if i % 2 else world.b, name=f"G{i}",
                                  company=f"G{i}", created_on=d(2, 1), investment_wan=20000)
            services.move_stage(world.admin, lead, ["negotiation", "signed", "producing"][i % 3],
                                on=d(3, 1))
            log_visit(world.admin, lead, {"kind": "call", "summary": "x", "visited_on": d(4, 1)})
            services.add_funds(world.admin, lead, d(5, 1), Decimal(10))
        db.session.commit()

    db.session.add(Target(township_id=world.a.id, year=2025, metric="visits", value=10))
    grow(2)
    queries()  # the token's first use writes its last_used_at (then at most once a minute)
    small = queries()  # from the cache
    grow(30)  # every unit's cached numbers are now stale
    cold = queries()
    assert queries() == small
    grow(1)
    assert queries() == cold  # computing (and storing) does not grow with the data either
    assert small < cold


def test_the_api_answer_is_what_the_schema_would_dump_cold_and_warm(client, scenario,
                                                                     cache_today):
    """The API answer is assembled from each unit's JSON text, not dumped by marshmallow: it
    must equal what ``StatsSchema`` gives for the computed numbers, from an empty cache, from a
    full one and after a write."""
    from crm.api.stats import StatsSchema, stats_payload
    from crm.auth.services import issue_token

    cache_today(AS_OF)

    for user in (scenario.admin, scenario.head_b):
        token = issue_token(user)
        db.session.commit()
        computed = district_stats(user, 2025, AS_OF, industry="")  # "" skips the cache
        expected = StatsSchema().dump({**stats_payload(computed), "as_of": AS_OF})
        assert expected == stats_payload(computed)
        assert json.loads(json.dumps(expected)) == expected
        for _ in range(2):  # computed and stored, then read from the cache
            r = client.get("/api/v1/stats/townships?year=2025&as_of=2025-06-30",
                           headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.mimetype == "application/json"
            assert r.get_json() == expected
    b1 = db.session.scalar(sa.select(Lead).where(Lead.name == "B1"))
    services.move_stage(scenario.admin, b1, "negotiation", on=d(6, 1))
    db.session.commit()
    r = client.get("/api/v1/stats/townships?year=2025&as_of=2025-06-30",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.get_json() != expected
    assert r.get_json()["townships"][0]["entered"]["negotiation"] == 1
    assert r.get_json() == stats_payload(district_stats(scenario.head_b, 2025, AS_OF,
                                                        industry=""))
