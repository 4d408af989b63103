"""Rate and investment targets with due dates (重点项目开工率、纳统率、纳统有效投资), and units
without targets left unranked; against numbers computed by hand, on SQLite and PostgreSQL.

Unit A (孟庄镇), year 2025; every lead created 01-05:

| lead | key      | planned start | started | 纳统  | 万元   |
|------|----------|---------------|---------|-------|--------|
| K1   | city     | 02-15         | 03-10   | 06-01 | 20 000 |
| K2   | district | 03-20         | 04-15   |       | 30 000 |
| K3   | province | 03-25         |         |       | 40 000 |
| K4   | city     | 05-01         | 05-10   |       | 50 000 |
| N1   | none     | 02-01         | 02-20   | 02-10 | 5 000  |

Key projects' start rate as of 03-31: of K1, K2, K3 (planned by then) K1 started: 1/3; as of
06-30: of K1–K4, K1, K2, K4 started: 3/4. Inclusion rate as of 06-30: of K1, K2, K4 started,
K1 included: 1/3. 纳统有效投资 as of 06-30: K1 + N1 = 25 000; as of 03-31: N1 = 5 000.
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from crm.auth.services import issue_token
from crm.extensions import db
from crm.leads import services
from crm.stats.queries import district_stats
from crm.stats.results import progress_to, rate_colour
from crm.targets import services as target_services
from tests import factories

Q1, H1 = dt.date(2025, 3, 31), dt.date(2025, 6, 30)


def d(month, day):
    return dt.date(2025, month, day)


@pytest.fixture
def rates(world):
    w, admin = world, world.admin

    def lead(name, key_level, planned_start, inv, started=None, included=None):
        made = factories.lead(admin, w.a, name=name, company=name, created_on=d(1, 5),
                              investment_wan=inv, stage="signed", key_level=key_level,
                              planned_start_date=planned_start, stats_included_on=included)
        if started:
            services.move_stage(admin, made, "started", on=started)
        return made

    lead("K1", "city", d(2, 15), 20000, started=d(3, 10), included=d(6, 1))
    lead("K2", "district", d(3, 20), 30000, started=d(4, 15))
    lead("K3", "province", d(3, 25), 40000)
    lead("K4", "city", d(5, 1), 50000, started=d(5, 10))
    lead("N1", "none", d(2, 1), 5000, started=d(2, 20), included=d(2, 10))
    target_services.set_targets(admin, w.a.id, 2025, {
        "start_rate": {"target": Decimal("0.9"), "due_on": Q1},
        "stats_inclusion_rate": Decimal("0.4"),
        "stats_included_investment_wan": {"target": Decimal(50000), "due_on": H1},
    })
    db.session.commit()
    return w


def targets_of(unit):
    return {t.metric: t for t in unit.targets}


def test_rate_colour_and_progress_to_a_due_date(rules_app):
    target = Decimal("0.9")
    assert rate_colour(Fraction(9, 10), target) == "blue"
    assert rate_colour(Fraction(8, 10), target) == "yellow"  # exactly 0.10 below
    assert rate_colour(Fraction(8, 10) - Fraction(1, 10**6), target) == "red"
    assert rate_colour(None, target) is None
    assert progress_to(2025, Q1, H1) == Fraction(90, 181)
    assert progress_to(2025, H1, H1) == 1 and progress_to(2025, d(9, 1), H1) == 1
    assert progress_to(2025, H1, None) == Fraction(181, 365)


def test_before_the_due_date_the_rate_is_todays(rates):
    unit = district_stats(rates.admin, 2025, Q1).unit(rates.a.id)
    assert unit.key_start_rate == Fraction(1, 3)
    assert unit.start_rate == Fraction(2, 4)  # every lead: K1 and N1 of K1, K2, K3, N1
    start = targets_of(unit)["start_rate"]
    assert (start.actual, start.frozen, start.due_on, start.color) == (
        Fraction(1, 3), False, Q1, "red")
    assert start.attainment == Fraction(10, 27)
    investment = targets_of(unit)["stats_included_investment_wan"]
    assert investment.actual == Decimal(5000) and investment.attainment == Fraction(1, 10)
    assert investment.color == "red"  # 0.1 against time progress to the due date, 90/181


def test_after_the_due_date_the_rate_of_that_day_is_kept(rates):
    unit = district_stats(rates.admin, 2025, H1).unit(rates.a.id)
    assert unit.key_start_rate == Fraction(3, 4)  # today's rate has moved on
    start = targets_of(unit)["start_rate"]
    assert (start.actual, start.frozen, start.color) == (Fraction(1, 3), True, "red")
    later = district_stats(rates.admin, 2025, d(12, 31)).unit(rates.a.id)
    assert targets_of(later)["start_rate"].actual == Fraction(1, 3)
    inclusion = targets_of(unit)["stats_inclusion_rate"]  # no due date: today's rate
    assert (inclusion.actual, inclusion.frozen, inclusion.color) == (Fraction(1, 3), False,
                                                                     "yellow")
    investment = targets_of(unit)["stats_included_investment_wan"]
    assert investment.actual == Decimal(25000) and investment.color == "red"  # 0.5 of 1
    assert unit.actuals["stats_included_investment_wan"] == Decimal(25000)


def test_a_start_on_the_due_date_counts_and_the_next_day_does_not(rates):
    from crm.leads.models import Lead

    k3 = db.session.scalar(db.select(Lead).where(Lead.name == "K3"))
    services.move_stage(rates.admin, k3, "started", on=Q1)
    db.session.commit()
    start = targets_of(district_stats(rates.admin, 2025, H1).unit(rates.a.id))["start_rate"]
    assert start.actual == Fraction(2, 3)


def test_the_cache_keeps_the_kept_value(rates, cache_today):
    cache_today(H1)
    cold = district_stats(rates.admin, 2025, H1).unit(rates.a.id)
    warm = district_stats(rates.admin, 2025, H1).unit(rates.a.id)
    assert warm.targets == cold.targets
    assert targets_of(warm)["start_rate"].actual == Fraction(1, 3)
    assert warm.key_stats_inclusion_rate == Fraction(1, 3)


def test_the_api_answers_rates_due_dates_and_unranked_units(client, rates):
    token = issue_token(rates.admin)
    db.session.commit()
    body = client.get("/api/v1/stats/townships?year=2025&as_of=2025-06-30",
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    a = next(t for t in body["townships"] if t["township_id"] == rates.a.id)
    b = next(t for t in body["townships"] if t["township_id"] == rates.b.id)
    assert a["rank"] == 1 and b["rank"] is None  # B has no targets: not ranked
    by_metric = {t["metric"]: t for t in a["targets"]}
    assert by_metric["start_rate"] == {"metric": "start_rate", "target": 0.9, "actual": 0.3333,
                                       "attainment": 0.3704, "color": "red",
                                       "due_on": "2025-03-31"}
    assert "due_on" not in by_metric["stats_inclusion_rate"]
    assert a["key_start_rate"] == 0.75 and a["stats_included_investment_wan"] == 25000
    assert body["townships"][-1]["township_id"] == rates.b.id


def test_targets_api_takes_and_gives_due_dates(client, rates):
    token = issue_token(rates.admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.put(f"/api/v1/targets/{rates.b.id}/2025", headers=headers, json={
        "start_rate": {"target": 0.9, "due_on": "2025-03-31"}, "visits": 12,
        "stats_inclusion_rate": {"target": 0.75, "due_on": None}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == [
        {"township_id": rates.b.id, "year": 2025, "metric": "visits", "target": 12},
        {"township_id": rates.b.id, "year": 2025, "metric": "start_rate", "target": 0.9,
         "due_on": "2025-03-31"},
        {"township_id": rates.b.id, "year": 2025, "metric": "stats_inclusion_rate",
         "target": 0.75}]
    # a plain number keeps the due date
    client.put(f"/api/v1/targets/{rates.b.id}/2025", headers=headers, json={"start_rate": 0.8})
    listed = client.get("/api/v1/targets?year=2025", headers=headers).get_json()
    start = next(t for t in listed if t["township_id"] == rates.b.id
                 and t["metric"] == "start_rate")
    assert (start["target"], start["due_on"]) == (0.8, "2025-03-31")
    for bad in ({"start_rate": 1.5}, {"start_rate": {"target": 0.9, "due_on": "2026-03-31"}},
                {"start_rate": {"due_on": "2025-03-31"}}, {"visits": {"target": "x"}},
                {"visits": [1]}):
        response = client.put(f"/api/v1/targets/{rates.b.id}/2025", headers=headers, json=bad)
        assert response.status_code == 422, (bad, response.get_json())
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "TargetWithDue" in doc["components"]["schemas"]


def test_pages_show_rates_due_dates_and_unranked_units(client, auth, rates):
    auth.login("admin")
    text = client.get("/stats/?year=2025&as_of=2025-06-30").get_data(as_text=True)
    assert "未设目标" in text and "税郭镇" in text
    assert "33.3%" in text  # the start rate kept from its due date
    unit = client.get(f"/stats/unit/{rates.a.id}?year=2025&as_of=2025-06-30").get_data(
        as_text=True)
    assert "完成时限 2025-03-31" in unit and "按当日的值评价" in unit
    assert "重点项目开工率" in unit and "75.0%" in unit
    grid = client.get("/targets/?year=2025").get_data(as_text=True)
    assert f'name="d-{rates.a.id}-start_rate"' in grid and 'value="2025-03-31"' in grid
    # the grid saves a due date (and a rate typed as a percentage)
    from tests.targets.test_targets import grid as grid_data

    data = grid_data(rates, year=2025, b_stats_inclusion_rate="75%")
    data.update({f"t-{rates.a.id}-start_rate": "0.9", f"d-{rates.a.id}-start_rate": "2025-03-31",
                 f"t-{rates.a.id}-stats_inclusion_rate": "0.4",
                 f"t-{rates.a.id}-stats_included_investment_wan": "50000",
                 f"d-{rates.a.id}-stats_included_investment_wan": "2025-06-30",
                 f"d-{rates.b.id}-stats_inclusion_rate": "2025-06-30"})
    response = client.post("/targets/", data=data)
    assert response.status_code == 302
    saved = {t.metric: t for t in target_services.unit_targets(rates.b.id, 2025)}
    assert saved["stats_inclusion_rate"].value == Decimal("0.75")
    assert saved["stats_inclusion_rate"].due_on == H1
    data[f"d-{rates.b.id}-stats_inclusion_rate"] = "2024-06-30"
    assert client.post("/targets/", data=data).status_code == 422
    history = client.get(f"/targets/history/{rates.b.id}").get_data(as_text=True)
    assert "完成时限" in history and "2025-06-30" in history
    bulletin = client.get("/bulletin?as_of=2025-06-30").get_data(as_text=True)
    assert "33.3%/90.0%" in bulletin and "未设目标" in bulletin
