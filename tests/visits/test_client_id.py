"""A visit's client_id: logging the same visit twice (a resend from an offline phone, a double
tap, two requests racing) logs it once, on SQLite and PostgreSQL; another's client_id leaks
nothing."""

import threading
import uuid

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db
from crm.visits.models import Visit
from tests import factories


@pytest.fixture
def tokens(world):
    made = {u.username: issue_token(u) for u in (world.off_a1, world.off_a2, world.head_a,
                                                  world.off_b1)}
    db.session.commit()
    return made


def post(client, tokens, lead_id, user="a-1", **body):
    body = {"visited_on": today().isoformat(), "kind": "visit", "summary": "离线记下的走访",
            **body}
    return client.post(f"/api/v1/leads/{lead_id}/visits", json=body,
                       headers={"Authorization": f"Bearer {tokens[user]}"})


def count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(Visit.id)))


def test_first_201_then_200_with_the_first_visit(client, world, tokens):
    cid = str(uuid.uuid4())
    first = post(client, tokens, world.lead_a.id, client_id=cid)
    assert first.status_code == 201
    body = first.get_json()
    assert body["client_id"] == cid and body["summary"] == "离线记下的走访"
    version = db.session.get(type(world.lead_a), world.lead_a.id).version
    again = post(client, tokens, world.lead_a.id, client_id=cid.upper(), summary="改了的说法")
    assert again.status_code == 200
    assert again.get_json() == body  # the first visit, unchanged
    assert count() == 1
    db.session.expire_all()
    assert db.session.get(type(world.lead_a), world.lead_a.id).version == version  # nothing written


def test_without_client_id_each_post_is_a_visit(client, world, tokens):
    assert post(client, tokens, world.lead_a.id).status_code == 201
    response = post(client, tokens, world.lead_a.id, client_id=None)
    assert response.status_code == 201 and response.get_json()["client_id"] is None
    assert count() == 2  # NULL client_ids do not collide


@pytest.mark.parametrize("bad", ["abc", "12345", 42, "3f2b8c1e-5d4a-4f6b-9c1d-2e7a8b9c0d1", ""])
def test_bad_client_id_is_422_in_chinese(client, world, tokens, bad):
    response = post(client, tokens, world.lead_a.id, client_id=bad)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["client_id"] == ["须为 UUID"]
    assert count() == 0


def test_another_users_or_leads_client_id_leaks_nothing(client, world, tokens):
    cid = str(uuid.uuid4())
    assert post(client, tokens, world.lead_a.id, client_id=cid, summary="甲一的秘密走访").status_code == 201
    own_other = factories.lead(world.off_a1, world.a, name="甲一的另一个项目", company="另一公司")
    db.session.commit()
    for user, lead in (("a-2", world.lead_a2), ("a-1", own_other), ("a-head", world.lead_a)):
        response = post(client, tokens, lead.id, user=user, client_id=cid)
        assert response.status_code == 409, user
        text = response.get_data(as_text=True)
        assert "甲一的秘密走访" not in text and '"id"' not in text
        assert response.get_json()["error"]["code"] == "client_id_taken"
        assert list(response.get_json()["error"]["fields"]) == ["client_id"]
    # another unit's officer: the lead itself is out of sight first
    assert post(client, tokens, world.lead_a.id, user="b-1", client_id=cid).status_code == 404
    assert count() == 1


def test_a_repeat_is_answered_even_when_the_body_would_now_be_refused(client, world, tokens):
    cid = str(uuid.uuid4())
    assert post(client, tokens, world.lead_a.id, client_id=cid).status_code == 201
    again = post(client, tokens, world.lead_a.id, client_id=cid, kind="bogus")
    assert again.status_code == 422  # the body's own form is checked first (the schema)
    for changed in ({"summary": "   "}, {"next_follow_up": "2000-01-01"}):
        again = post(client, tokens, world.lead_a.id, client_id=cid, **changed)
        assert again.status_code == 200  # the domain's rules: the first visit stands
    assert count() == 1


def test_openapi_documents_client_id_and_the_repeat(client, world):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/leads/{lead_id}/visits"]["post"]
    assert {"200", "201", "409", "422"} <= set(operation["responses"])
    schema = spec["components"]["schemas"]["VisitIn"]["properties"]["client_id"]
    assert schema["format"] == "uuid" and schema.get("nullable") is True


def test_two_requests_racing_with_one_client_id_log_one_visit(app, world, tokens):
    """Two threads post the same client_id at once (each request its own session, as served):
    one 201, one 200 with the same visit, one row."""
    cid = str(uuid.uuid4())
    barrier = threading.Barrier(2)
    answers = []
    lead_id = world.lead_a.id  # read here: the threads must not touch the test's session

    def send():
        client = FlaskClient(app, app.response_class)
        with app.app_context():
            barrier.wait()
            response = post(client, tokens, lead_id, client_id=cid)
            answers.append((response.status_code, response.get_json()["id"]))

    db.session.commit()
    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in answers) == [200, 201]
    assert answers[0][1] == answers[1][1]
    assert count() == 1


def test_racing_on_two_leads_the_unique_index_decides(app, world, tokens, db_kind):
    """The look-up happens before the insert: a client_id committed by another transaction in
    between is caught by the unique index (a savepoint), and answered 409 here."""
    if db_kind != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no window between look-up and insert")
    cid = str(uuid.uuid4())
    own_other = factories.lead(world.off_a1, world.a, name="甲一的另一个项目", company="另一公司")
    db.session.commit()
    ids = (world.lead_a.id, world.a.id, world.off_a1.id)
    lead_id = own_other.id
    db.session.commit()
    engine = db.engine
    # Another transaction has inserted the visit (on lead_a) but not committed yet.
    other = engine.connect()
    tx = other.begin()
    other.execute(sa.insert(Visit.__table__).values(
        lead_id=ids[0], township_id=ids[1], user_id=ids[2],
        visited_on=today(), kind="visit", summary="另一个请求", next_step="", participants="",
        client_id=cid, created_at=sa.func.now(), updated_at=sa.func.now()))
    answers = []

    def send():
        client = FlaskClient(app, app.response_class)
        with app.app_context():
            response = post(client, tokens, lead_id, client_id=cid)
            answers.append(response.status_code)

    thread = threading.Thread(target=send)
    thread.start()
    # The request now waits on the unique index for the other transaction.
    assert _waiting_on_a_lock(engine), "the request did not reach the insert"
    tx.commit()
    other.close()
    thread.join(30)
    assert answers == [409]
    assert count() == 1


def _waiting_on_a_lock(engine, timeout=10.0) -> bool:
    from tests.conftest import wait_for

    def waiting():
        with engine.connect() as conn:
            return conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")) > 0

    return wait_for(waiting, timeout)


def test_the_visit_form_sent_twice_logs_one_visit(client, auth, world):
    auth.login("a-1")
    page = client.get(f"/leads/{world.lead_a.id}/visits").get_data(as_text=True)
    cid = page.split('name="client_id" type="hidden" value="')[1].split('"')[0] \
        if 'name="client_id" type="hidden" value="' in page else \
        page.split('id="client_id" name="client_id" type="hidden" value="')[1].split('"')[0]
    assert uuid.UUID(cid)
    form = {"visited_on": today().isoformat(), "kind": "visit", "summary": "双击提交",
            "client_id": cid}
    first = client.post(f"/leads/{world.lead_a.id}/visits", data=form)
    second = client.post(f"/leads/{world.lead_a.id}/visits", data=form)
    assert first.status_code == second.status_code == 302
    assert count() == 1
    shown = client.get(f"/leads/{world.lead_a.id}").get_data(as_text=True)
    assert "这条走访已记录过，未重复保存" in shown
    # a fresh form has a fresh id
    again = client.get(f"/leads/{world.lead_a.id}/visits").get_data(as_text=True)
    assert cid not in again


def test_the_visit_form_with_a_bad_or_taken_client_id(client, auth, world):
    auth.login("a-1")
    cid = str(uuid.uuid4())
    form = {"visited_on": today().isoformat(), "kind": "visit", "summary": "表单", "client_id": cid}
    assert client.post(f"/leads/{world.lead_a.id}/visits", data=form).status_code == 302
    other = factories.lead(world.off_a1, world.a, name="甲一的另一个项目", company="另一公司")
    db.session.commit()
    response = client.post(f"/leads/{other.id}/visits", data=form)  # another lead
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "该 client_id 已被另一条走访使用" in page and cid not in page
    response = client.post(f"/leads/{world.lead_a.id}/visits", data={**form, "client_id": "x"})
    assert response.status_code == 422 and "client_id 须为 UUID" in response.get_data(as_text=True)
    assert count() == 1
