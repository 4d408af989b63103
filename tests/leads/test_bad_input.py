"""Garbage on every form and API call: a clear 4xx, never a 500, nothing saved."""

import pytest
import sqlalchemy as sa

from crm.auth.services import issue_token
from crm.extensions import db
from crm.leads.models import Lead
from crm.visits.models import Visit

GARBAGE = [
    {},
    {"name": "x" * 5000, "company": "\x00", "investment_wan": "1e999", "version": "abc"},
    {"to": "nowhere", "on": "31/02/2026", "amount_wan": "NaN", "arrived_on": "2026-02-30",
     "kind": "party", "visited_on": "yesterday", "next_follow_up": "-1", "version": "-1"},
    {"primary_officer_id": "abc", "helper_ids": ["x", "999999"], "created_on": "0000-00-00",
     "township_id": "999999", "stage": "lost", "investment_wan": "-1"},
]


def form_paths(lead_id, blocker_id):
    return [
        "/leads/new", f"/leads/{lead_id}/edit", f"/leads/{lead_id}/move",
        f"/leads/{lead_id}/assign", f"/leads/{lead_id}/funds", f"/leads/{lead_id}/blockers",
        f"/leads/{lead_id}/contacts", f"/leads/{lead_id}/visits",
        f"/leads/{lead_id}/blockers/{blocker_id}/resolve", "/password", "/language", "/login",
    ]


def snapshot():
    return (
        db.session.scalar(sa.select(sa.func.count(Lead.id))),
        db.session.scalar(sa.select(sa.func.count(Visit.id))),
        db.session.scalar(sa.select(sa.func.sum(Lead.version))),
    )


@pytest.mark.parametrize("user", ["a-head", "admin"])
def test_garbage_on_every_form(client, auth, world, user):
    from crm.leads.services import add_blocker

    blocker = add_blocker(world.head_a, world.lead_a, "land", "用地")
    db.session.commit()
    before = snapshot()
    auth.login(user)
    for path in form_paths(world.lead_a.id, blocker.id):
        for data in GARBAGE:
            response = client.post(path, data=data)
            assert response.status_code < 500, (path, data, response.status_code)
    assert snapshot() == before


def test_garbage_on_every_api_call(client, world):
    token = issue_token(world.head_a)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    lid = world.lead_a.id
    before = snapshot()
    calls = [("POST", "/leads"), ("PATCH", f"/leads/{lid}"), ("POST", f"/leads/{lid}/transitions"),
             ("POST", f"/leads/{lid}/visits"), ("POST", f"/leads/{lid}/funds"),
             ("GET", "/leads?page=abc&per_page=-1&township_id=x"), ("GET", "/leads/abc")]
    bodies = [None, "null", "[]", "\"text\"", "{\"version\": \"1\"}", "{\"to\": 5}",
              "{\"investment_wan\": true, \"name\": 1, \"company\": []}",
              "{\"amount_wan\": 1e400, \"arrived_on\": \"2026-13-01\"}", "\xff\xfe"]
    for method, path in calls:
        for body in bodies:
            response = client.open(f"/api/v1{path}", method=method, headers=headers, data=body,
                                   content_type="application/json")
            assert 400 <= response.status_code < 500, (method, path, body, response.status_code)
            assert "error" in response.get_json(), (method, path, body)
    assert snapshot() == before
