"""Hostile input (issue 13): each attack found on a running instance, kept so it cannot come back.

Numbers that are not finite or too large, dates outside 2000..2100, invisible and control
characters, huge integers in paths and query strings, deep or huge JSON: never a 500, nothing
written, a Chinese message on pages and the JSON error format under /api.
"""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db
from crm.leads.models import FundEntry, Lead, StageChange
from crm.stats.models import StatsCache
from tests.security.test_authz_matrix import changed_tables, fingerprint

HUGE = "99999999999999999999"
NOT_FINITE = ["Infinity", "-Infinity", "NaN", "sNaN", "1e400", "inf"]
CHINESE = ("须为数字", "须为整数", "数值过大", "须为不小于0的整数", "日期须在", "日期格式", "请填写",
           "须含有可见")


def _lead_form(lead, **changes):
    data = {"name": lead.name, "company": lead.company, "investment_wan": str(lead.investment_wan),
            "source": lead.source, "version": str(lead.version)}
    data.update(changes)
    return data


def _api(client, token, method, path, **kwargs):
    return client.open(f"/api/v1{path}", method=method,
                       headers={"Authorization": f"Bearer {token}"}, **kwargs)


def _assert_json_error(response, status):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body["error"]) >= {"code", "message", "fields"}, body


@pytest.fixture
def officer_token(world):
    token = issue_token(world.off_a1)
    db.session.commit()
    return token


@pytest.fixture
def head_token(world):
    token = issue_token(world.head_a)
    db.session.commit()
    return token


# --- 4. numbers on forms ------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["investment_wan", "land_mu", "expected_tax_wan",
                                   "expected_output_wan"])
def test_amounts_that_are_not_finite_numbers_are_refused_on_the_form(client, auth, world, field):
    auth.login("a-1")
    before = fingerprint()
    for value in NOT_FINITE:
        response = client.post(f"/leads/{world.lead_a.id}/edit",
                               data=_lead_form(world.lead_a, **{field: value}))
        assert response.status_code == 200, (value, response.status_code)
        text = response.get_data(as_text=True)
        assert "须为数字" in text or "数值过大" in text, value
    assert changed_tables(before, fingerprint()) == []


def test_huge_jobs_is_refused_on_the_form(client, auth, world):
    auth.login("a-1")
    before = fingerprint()
    for value in (HUGE, "1" * 5000, "-1", "1e5", "１２"):
        response = client.post(f"/leads/{world.lead_a.id}/edit",
                               data=_lead_form(world.lead_a, jobs=value))
        if value == "１２":  # full-width digits are a number (NFKC): saved
            assert response.status_code == 302
            continue
        assert response.status_code == 200, value
        assert any(m in response.get_data(as_text=True) for m in CHINESE), value
    changed = changed_tables(before, fingerprint())
    assert set(changed) <= {"leads", "audit_log", "stats_versions"}
    assert db.session.get(Lead, world.lead_a.id).jobs == 12


def test_fund_amount_and_date_out_of_range_on_the_form(client, auth, world):
    auth.login("a-1")
    before = fingerprint()
    for data in ({"arrived_on": today().isoformat(), "amount_wan": "Infinity"},
                 {"arrived_on": today().isoformat(), "amount_wan": "sNaN"},
                 {"arrived_on": "0001-01-01", "amount_wan": "5"},
                 {"arrived_on": "9999-12-31", "amount_wan": "5"}):
        response = client.post(f"/leads/{world.lead_a.id}/funds", data=data,
                               follow_redirects=True)
        assert response.status_code == 200
        assert any(m in response.get_data(as_text=True) for m in (*CHINESE, "不能晚于今天")), data
    assert changed_tables(before, fingerprint()) == []


# --- 4. huge integers in paths and query strings ------------------------------------------------

def test_huge_integers_in_paths_are_not_found(client, auth, world):
    from crm.visits.services import log_visit

    log_visit(world.off_a1, world.lead_a, {"kind": "visit", "summary": "走访", "visited_on": today()})
    db.session.commit()
    lid = world.lead_a.id
    for user, paths in (
        ("a-1", [f"/leads/{HUGE}", f"/leads/{HUGE}/edit", f"/leads/{lid}/visits/{HUGE}/edit",
                 f"/leads/{HUGE}/visits", f"/leads/{lid}/blockers/{HUGE}/resolve"]),
        ("admin", [f"/admin/users/{HUGE}", f"/admin/users/{HUGE}/edit", f"/targets/history/{HUGE}",
                   f"/stats/unit/{HUGE}", "/leads/2147483648", "/admin/users/" + "9" * 5000]),
    ):
        auth.login(user)
        for path in paths:
            method = "POST" if path.endswith("/resolve") else "GET"
            response = client.open(path, method=method)
            assert response.status_code == 404, (path, response.status_code)
            assert "页面不存在" in response.get_data(as_text=True)


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
@pytest.mark.parametrize("user", ["a-1", "admin"])
def test_huge_or_malformed_query_parameters_never_fail(client, auth, world, user):
    auth.login(user)
    values = [HUGE, "-1", "0", "abc", "²", "1e5", "9" * 5000, "\x00", "\u200b1"]
    paths = ["/leads/", "/exports/leads.xlsx", "/exports/visits.xlsx", "/reminders/",
             "/account/tokens", "/board", "/stats/"]
    if user == "admin":
        paths += ["/admin/users", "/admin/tokens", "/reminders/admin", "/admin/signins"]
    before = fingerprint()
    for path in paths:
        for name in ("page", "township_id", "officer_id", "year", "limit"):
            for value in values:
                query = {name: value, **({"more": "contact"} if name == "limit" else {})}
                response = client.get(path, query_string=query)
                assert response.status_code < 500, (path, name, value, response.status_code)
    assert changed_tables(before, fingerprint()) == []


def test_drill_down_with_an_impossible_year_explains_itself(client, auth, world):
    auth.login("admin")
    for year in ("0", "9999", HUGE, "1999"):
        response = client.get("/leads/", query_string={
            "metric": "signed_100m", "year": year, "township_id": world.a.id})
        assert response.status_code == 200, year
        assert "年份须在2000至2100之间" in response.get_data(as_text=True)
    response = client.get("/leads/", query_string={
        "metric": "signed_100m", "year": "2026", "as_of": "0001-01-01", "township_id": world.a.id})
    assert response.status_code == 200
    assert "日期须在" in response.get_data(as_text=True)


# --- 4, 5. the API: deep and huge JSON, dates out of range ---------------------------------------

def test_deep_json_is_refused_before_parsing(client, world, officer_token):
    before = fingerprint()
    for body in ("[" * 3000 + "]" * 3000, '{"name": ' + "[" * 33 + "]" * 33 + "}",
                 '{"version": %s}' % ("9" * 5001), '{"version": 1, "jobs": %s}' % ("1" * 21),
                 '{"version": 1, "investment_wan": NaN}', '{"version": 1, "land_mu": Infinity}'):
        response = _api(client, officer_token, "PATCH", f"/leads/{world.lead_a.id}",
                        data=body, content_type="application/json")
        _assert_json_error(response, 400)
    # A float beyond range is refused too (the API parser reads it as infinite, the field refuses).
    response = _api(client, officer_token, "PATCH", f"/leads/{world.lead_a.id}",
                    data='{"version": 1, "land_mu": 1e400}', content_type="application/json")
    _assert_json_error(response, 422)
    assert changed_tables(before, fingerprint()) == []
    # Within the limits: 32 levels and 20 digits are fine (refused by the schema, not the parser).
    nested = '{"version": 1, "name": ' + "[" * 31 + "]" * 31 + "}"
    response = _api(client, officer_token, "PATCH", f"/leads/{world.lead_a.id}", data=nested,
                    content_type="application/json")
    _assert_json_error(response, 422)
    text = '{"version": 1, "jobs": 12345678901234567890}'
    response = _api(client, officer_token, "PATCH", f"/leads/{world.lead_a.id}", data=text,
                    content_type="application/json")
    _assert_json_error(response, 422)


def test_brackets_inside_strings_do_not_count_as_depth(client, world, officer_token):
    lead = db.session.get(Lead, world.lead_a.id)
    response = _api(client, officer_token, "PATCH", f"/leads/{lead.id}",
                    json={"version": lead.version, "notes": "[" * 100 + '"\\' + "9" * 50})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("field", ["investment_wan", "land_mu", "expected_tax_wan"])
def test_api_amounts_that_are_not_finite_are_refused(client, world, officer_token, field):
    before = fingerprint()
    for value in NOT_FINITE:
        response = _api(client, officer_token, "PATCH", f"/leads/{world.lead_a.id}",
                        json={"version": world.lead_a.version, field: value})
        _assert_json_error(response, 422)
        assert field in response.get_json()["error"]["fields"]
    response = _api(client, officer_token, "POST", f"/leads/{world.lead_a.id}/funds",
                    json={"arrived_on": today().isoformat(), "amount_wan": "Infinity"})
    _assert_json_error(response, 422)
    assert changed_tables(before, fingerprint()) == []


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01",
                                   "2026-02-30", "+2026-01-01", "２０２６-13-01"])
def test_stats_as_of_out_of_range_is_refused(client, world, head_token, as_of):
    cached = db.session.scalar(sa.select(sa.func.count()).select_from(StatsCache))
    response = _api(client, head_token, "GET", "/stats/townships", query_string={"as_of": as_of})
    _assert_json_error(response, 422)
    assert "as_of" in response.get_json()["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatsCache)) == cached
    ok = _api(client, head_token, "GET", "/stats/townships", query_string={"as_of": "2100-12-31"})
    assert ok.status_code == 200 and ok.get_json()["year"] == 2100


# --- 7. capital arrival dates --------------------------------------------------------------------

def test_capital_arrival_before_2000_is_refused(client, world, officer_token):
    for arrived_on in ("0001-01-01", "1999-12-31", "9999-12-31"):
        response = _api(client, officer_token, "POST", f"/leads/{world.lead_a.id}/funds",
                        json={"arrived_on": arrived_on, "amount_wan": 5})
        _assert_json_error(response, 422)
        assert "arrived_on" in response.get_json()["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count(FundEntry.id))) == 0
    from crm.errors import DomainError
    from crm.leads import services

    with pytest.raises(DomainError):  # the service holds the rule too (the CLI, the import)
        services.add_funds(world.off_a1, world.lead_a, dt.date(1, 1, 1), 5)
    db.session.rollback()


# --- 8. NUL, control and format characters: removed the same way on pages and in the API ---------

def test_forms_and_api_store_the_same_clean_text(client, auth, world, officer_token):
    dirty = "宠物\x00食品\u200b基地\u202e\x07\ufeff"
    auth.login("a-1")
    response = client.post(f"/leads/{world.lead_a.id}/edit",
                           data=_lead_form(world.lead_a, name=dirty, notes="a\x00b\r\nc\td"))
    assert response.status_code == 302
    lead = db.session.get(Lead, world.lead_a.id)
    assert (lead.name, lead.notes) == ("宠物食品基地", "ab\r\nc\td")
    response = _api(client, officer_token, "PATCH", f"/leads/{lead.id}",
                    json={"version": lead.version, "name": "机器人\x00\u2066项目", "origin": "\x00"})
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    lead = db.session.get(Lead, world.lead_a.id)
    assert (lead.name, lead.origin) == ("机器人项目", "")
    for bad in ("\u200b", "\x00", " \u202e ", "\u3164"):
        response = _api(client, officer_token, "PATCH", f"/leads/{lead.id}",
                        json={"version": lead.version, "name": bad})
        _assert_json_error(response, 422)
        response = client.post(f"/leads/{lead.id}/edit", data=_lead_form(lead, name=bad))
        assert response.status_code == 200 and "请填写项目名称" in response.get_data(as_text=True)


# --- 9. a required reason must show -----------------------------------------------------------

def test_invisible_reason_of_a_back_move_is_refused(client, auth, world, head_token):
    from crm.leads.services import move_stage

    move_stage(world.head_a, world.lead_a, "negotiation")
    db.session.commit()
    lead = db.session.get(Lead, world.lead_a.id)
    changes = db.session.scalar(sa.select(sa.func.count(StageChange.id)))
    for reason in ("\u200b", "\u202e", "\x00 \u2060", "\u3000"):
        response = _api(client, head_token, "POST", f"/leads/{lead.id}/transitions",
                        json={"to": "contact", "reason": reason, "version": lead.version})
        _assert_json_error(response, 422)
        assert "reason" in response.get_json()["error"]["fields"]
    auth.login("a-head")
    response = client.post(f"/leads/{lead.id}/move", data={
        "to": "contact", "on": today().isoformat(), "reason": "\u200b", "version": lead.version})
    assert response.status_code == 422
    assert "须填写原因" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(StageChange.id))) == changes
    assert db.session.get(Lead, lead.id).stage == "negotiation"


def test_json_provider_refuses_the_same(app):
    """request.get_json (the app's JSON provider) holds the same limits as the API's parser."""
    for body in ("[" * 100 + "]" * 100, '{"a": %s}' % ("1" * 30), '{"a": NaN}', "[1e999]"):
        with app.test_request_context("/x", method="POST", data=body,
                                      content_type="application/json"):
            from flask import request
            from werkzeug.exceptions import BadRequest

            with pytest.raises(BadRequest):
                request.get_json()
    with app.test_request_context("/x", method="POST", data=json.dumps({"a": [[1.5, "]]]"]]}),
                                  content_type="application/json"):
        from flask import request

        assert request.get_json() == {"a": [[1.5, "]]]"]]}
