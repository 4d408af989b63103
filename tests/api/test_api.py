"""The JSON API: every call, its errors, and the OpenAPI document."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db
from crm.leads.models import Lead, StageChange


@pytest.fixture
def api(client, world):
    tokens = {u.username: issue_token(u) for u in (
        world.admin, world.viewer, world.head_a, world.off_a1, world.off_a2, world.head_b)}
    db.session.commit()

    class Api:
        def __call__(self, method, path, user="a-1", **kw):
            headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
            return client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    return Api()


def iso(d):
    return d.isoformat()


def test_me_and_townships(api, world):
    me = api("GET", "/me").get_json()
    assert me == {"id": world.off_a1.id, "username": "a-1", "display_name": "a-1",
                  "role": "officer", "township_id": world.a.id}
    assert [t["name"] for t in api("GET", "/townships").get_json()] == ["孟庄镇"]
    assert len(api("GET", "/townships", user="admin").get_json()) == 2


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_missing_or_bad_token_is_401(client, world, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_list_only_what_the_user_may_see(api, world):
    body = api("GET", "/leads").get_json()
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 50
    assert {i["name"] for i in body["items"]} == {"宠物食品生产基地", "智能机器人"}
    other = api("GET", f"/leads?township_id={world.b.id}").get_json()
    assert other["total"] == 0
    assert api("GET", "/leads", user="admin").get_json()["total"] == 3
    assert api("GET", "/leads?q=宠物").get_json()["total"] == 1
    assert api("GET", "/leads?per_page=201").status_code == 422
    assert api("GET", "/leads?stage=bogus").status_code == 422
    page = api("GET", "/leads?per_page=1&page=2").get_json()
    assert len(page["items"]) == 1 and page["total"] == 2


def test_lead_shape(api, world):
    lead = api("GET", f"/leads/{world.lead_a.id}").get_json()
    expected = set("""id name company credit_code origin industry chain source investment_wan land_mu
        expected_output_wan expected_tax_wan jobs funds_arrived_wan stage created_on township_id
        primary_officer_id officer_ids contact_name contact_phone next_follow_up planned_sign_date
        planned_start_date planned_production_date stats_included_on lost_reason color version
        created_at updated_at""".split())
    assert expected <= set(lead)
    assert lead["investment_wan"] == 20000
    assert lead["officer_ids"] == [world.off_a1.id]
    assert lead["color"] == "blue"
    assert lead["created_on"] == iso(today() - dt.timedelta(days=10))


def test_create_defaults_and_validation(api, world):
    response = api("POST", "/leads", json={"name": "锂电池回收", "company": "深圳某某科技有限公司",
                                          "investment_wan": 15000.5})
    assert response.status_code == 201, response.get_json()
    lead = response.get_json()
    assert (lead["stage"], lead["created_on"], lead["primary_officer_id"], lead["township_id"]) \
        == ("contact", iso(today()), world.off_a1.id, world.a.id)
    assert lead["investment_wan"] == 15000.5

    bad = api("POST", "/leads", json={"name": "", "investment_wan": -1, "stage": "lost"})
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["fields"]
    assert {"name", "company", "investment_wan", "stage"} <= set(fields)

    future = api("POST", "/leads", json={"name": "x", "company": "y", "investment_wan": 1,
                                         "created_on": iso(today() + dt.timedelta(days=1))})
    assert future.status_code == 422 and "created_on" in future.get_json()["error"]["fields"]
    bad_code = api("POST", "/leads", json={"name": "x", "company": "y", "investment_wan": 1,
                                           "credit_code": "91370400MA3C8XXX1X"})
    assert bad_code.status_code == 422 and "credit_code" in bad_code.get_json()["error"]["fields"]
    assert api("POST", "/leads", json={"name": "x", "company": "y", "investment_wan": 1,
                                       "township_id": world.b.id}).status_code == 403
    assert api("POST", "/leads", user="viewer", json={"name": "x", "company": "y",
                                                      "investment_wan": 1}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 4


def test_back_dated_creation_at_a_later_stage(api, world):
    on = today() - dt.timedelta(days=30)
    response = api("POST", "/leads", user="a-head", json={
        "name": "x", "company": "y", "investment_wan": 1, "stage": "signed", "created_on": iso(on),
        "primary_officer_id": world.off_a2.id, "officer_ids": [world.off_a1.id]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["officer_ids"] == [world.off_a2.id, world.off_a1.id]
    stages = db.session.execute(sa.select(StageChange.to_stage, StageChange.effective_on)
                                .where(StageChange.lead_id == body["id"])).all()
    assert sorted(stages) == sorted([("contact", on), ("negotiation", on), ("signed", on)])


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "{\"name\": "])
def test_malformed_body_is_400(api, world, body):
    response = api("POST", "/leads", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.get_json()


def test_other_units_lead_is_404_everywhere(api, world):
    lid = world.lead_b.id
    assert api("GET", f"/leads/{lid}").status_code == 404
    assert api("PATCH", f"/leads/{lid}", json={"name": "x", "version": 1}).status_code == 404
    assert api("POST", f"/leads/{lid}/transitions", json={"to": "signed"}).status_code == 404
    assert api("GET", f"/leads/{lid}/visits").status_code == 404
    assert api("POST", f"/leads/{lid}/visits", json={"kind": "call", "summary": "x"}
               ).status_code == 404
    assert api("POST", f"/leads/{lid}/funds", json={"arrived_on": iso(today()), "amount_wan": 1}
               ).status_code == 404
    assert api("GET", "/leads/999999").status_code == 404
    db.session.expire_all()
    assert db.session.get(Lead, lid).version == 1


def test_patch_with_version_and_conflict(api, world):
    lid = world.lead_a.id
    ok = api("PATCH", f"/leads/{lid}", json={"name": "新名", "version": 1})
    assert ok.status_code == 200 and ok.get_json()["version"] == 2
    stale = api("PATCH", f"/leads/{lid}", user="a-head", json={"company": "别家", "version": 1})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "conflict"
    assert stale.get_json()["error"]["changes"]["name"] == ["宠物食品生产基地", "新名"]
    db.session.expire_all()
    assert db.session.get(Lead, lid).company == "烟台中宠食品股份有限公司"
    assert api("PATCH", f"/leads/{lid}", json={"name": "x"}).status_code == 422
    assert api("PATCH", f"/leads/{lid}", json={"version": 2, "investment_wan": "abc"}
               ).status_code == 422
    # an officer not assigned to the lead may not change it
    assert api("PATCH", f"/leads/{world.lead_a2.id}", json={"name": "x", "version": 1}
               ).status_code == 403


def test_transitions(api, world):
    lid = world.lead_a.id
    r = api("POST", f"/leads/{lid}/transitions", json={"to": "signed"})
    assert r.status_code == 200 and r.get_json()["stage"] == "signed"
    back = api("POST", f"/leads/{lid}/transitions", json={"to": "contact", "reason": "x"})
    assert back.status_code == 403
    no_reason = api("POST", f"/leads/{lid}/transitions", user="a-head", json={"to": "contact"})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["fields"]
    lost = api("POST", f"/leads/{lid}/transitions", json={"to": "lost"})
    assert lost.status_code == 422 and "lost_reason" in lost.get_json()["error"]["fields"]
    future = api("POST", f"/leads/{lid}/transitions",
                 json={"to": "started", "on": iso(today() + dt.timedelta(days=1))})
    assert future.status_code == 422
    early = api("POST", f"/leads/{lid}/transitions",
                json={"to": "started", "on": iso(today() - dt.timedelta(days=1))})
    assert early.status_code == 422
    lost = api("POST", f"/leads/{lid}/transitions", json={"to": "lost", "lost_reason": "policy"})
    assert lost.get_json()["lost_reason"] == "policy" and lost.get_json()["color"] is None
    assert api("POST", f"/leads/{lid}/transitions", user="viewer", json={"to": "contact"}
               ).status_code == 403


def test_visits_and_follow_up(api, world):
    lid = world.lead_a.id
    follow = iso(today() + dt.timedelta(days=7))
    r = api("POST", f"/leads/{lid}/visits", json={"kind": "visit", "summary": "首次上门",
                                                   "next_follow_up": follow})
    assert r.status_code == 201
    assert r.get_json()["visited_on"] == iso(today())
    api("POST", f"/leads/{lid}/visits", json={"kind": "call", "summary": "电话沟通",
                                               "visited_on": iso(today() - dt.timedelta(days=3))})
    visits = api("GET", f"/leads/{lid}/visits").get_json()
    assert [v["summary"] for v in visits] == ["首次上门", "电话沟通"]
    assert api("GET", f"/leads/{lid}").get_json()["next_follow_up"] == follow
    bad = api("POST", f"/leads/{lid}/visits", json={"kind": "party", "summary": ""})
    assert bad.status_code == 422
    assert {"kind", "summary"} <= set(bad.get_json()["error"]["fields"])
    assert api("POST", f"/leads/{lid}/visits", json={
        "kind": "call", "summary": "x", "visited_on": iso(today() + dt.timedelta(days=1))}
    ).status_code == 422


def test_funds(api, world):
    lid = world.lead_a.id
    r = api("POST", f"/leads/{lid}/funds", json={"arrived_on": iso(today()), "amount_wan": 1200.25})
    assert r.status_code == 201 and r.get_json()["amount_wan"] == 1200.25
    api("POST", f"/leads/{lid}/funds", json={"arrived_on": iso(today()), "amount_wan": 800})
    assert api("GET", f"/leads/{lid}").get_json()["funds_arrived_wan"] == 2000.25
    assert api("POST", f"/leads/{lid}/funds", json={"arrived_on": iso(today()), "amount_wan": 0}
               ).status_code == 422
    assert api("POST", f"/leads/{lid}/funds", json={"amount_wan": 5}).status_code == 422
    assert api("PATCH", f"/leads/{lid}", json={"version": 3, "funds_arrived_wan": 1}
               ).status_code == 422


def test_openapi_document_matches_the_routes(client, app):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    doc = spec.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops
                  if method in ("get", "post", "put", "patch", "delete")}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method))
    assert documented == routed
    for call in ["/api/v1/me", "/api/v1/townships", "/api/v1/leads", "/api/v1/leads/{lead_id}",
                 "/api/v1/leads/{lead_id}/transitions", "/api/v1/leads/{lead_id}/visits",
                 "/api/v1/leads/{lead_id}/funds"]:
        assert call in doc["paths"]
