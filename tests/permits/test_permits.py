"""Permit checklists (手续办理清单): the colour at its boundaries (Python and SQL, on SQLite and
PostgreSQL), the lead page's forms, the overdue list, the JSON API and who may do what."""

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db
from crm.leads.colour import colour_expr, lead_colour
from crm.leads.models import Lead
from crm.permits import services
from crm.permits.models import Permit

D = dt.date(2026, 6, 30)


def lead_with(*permits, stage="signed"):
    """A lead coloured blue but for its permits (transient: no database)."""
    lead = Lead(stage=stage, created_on=D - dt.timedelta(days=5),
                last_visit_on=D - dt.timedelta(days=1))
    for kind, due, done in permits:
        lead.permits.append(Permit(kind=kind, due_on=due, done_on=done, responsible_unit=""))
    return lead


@pytest.mark.parametrize("overdue,expected", [(-3, "blue"), (0, "blue"), (1, "yellow"),
                                              (30, "yellow"), (31, "red"), (90, "red")])
def test_overdue_permit_boundaries(rules_app, overdue, expected):
    """Due today is not overdue; 1 to 30 days overdue is yellow; 31 and more is red."""
    lead = lead_with(("construction", D - dt.timedelta(days=overdue), None))
    colour, reasons = lead_colour(lead, D)
    assert colour == expected
    if overdue > 0:
        assert reasons == [f"手续逾期：施工许可 {overdue} 天"]
    else:
        assert reasons == []


def test_done_permits_and_closed_leads(rules_app):
    long_ago = D - dt.timedelta(days=100)
    # done before the date: no colour of its own
    assert lead_colour(lead_with(("land", long_ago, D - dt.timedelta(days=1))), D)[0] == "blue"
    assert lead_colour(lead_with(("land", long_ago, D)), D)[0] == "blue"
    # done only after the date: overdue as of that date
    assert lead_colour(lead_with(("land", long_ago, D + dt.timedelta(days=1))), D)[0] == "red"
    # producing and lost leads have no colour
    assert lead_colour(lead_with(("land", long_ago, None), stage="producing"), D) == (None, [])
    # the worst item decides; every overdue item is a reason
    colour, reasons = lead_colour(lead_with(("fire", D - dt.timedelta(days=12), None),
                                            ("environment", long_ago, None)), D)
    assert colour == "red" and reasons == ["手续逾期：消防 12 天", "手续逾期：环评 100 天"]


def test_sql_and_python_agree_at_the_boundaries(world):
    """Stored leads with items due today, 1, 30, 31 days ago (done or not): the list's SQL colour
    is the page's Python colour, on SQLite and PostgreSQL."""
    as_of = today()
    unit = world.a.id
    offsets = [-2, 0, 1, 30, 31]
    made = []
    for stage in ("contact", "signed", "started", "producing"):
        for overdue in offsets:
            for done in (None, overdue - 1, -1):  # not done / done in time / done later
                lead = Lead(name="x", company="x", company_key="x", township_id=unit, stage=stage,
                            stage_changed_on=as_of, created_on=as_of, last_visit_on=as_of)
                due = as_of - dt.timedelta(days=overdue)
                done_on = None if done is None else as_of - dt.timedelta(days=done)
                lead.permits.append(Permit(kind="construction", due_on=due, done_on=done_on))
                made.append(lead)
    db.session.add_all(made)
    db.session.commit()
    ids = [lead.id for lead in made]
    db.session.expire_all()
    pairs = db.session.execute(
        sa.select(Lead, colour_expr(as_of)).where(Lead.id.in_(ids))).all()
    assert len(pairs) == len(made)
    seen = set()
    for lead, sql_colour in pairs:
        assert lead_colour(lead, as_of)[0] == sql_colour, (lead.stage, lead.permits[0].due_on)
        seen.add(sql_colour)
    assert seen == {"red", "yellow", "blue", None}


# --- the lead page --------------------------------------------------------------------------

def test_editors_add_edit_and_mark_done_on_the_lead_page(client, auth, world):
    lead = world.lead_a  # primary officer a-1
    auth.login("a-1")
    due = (today() - dt.timedelta(days=12)).isoformat()
    response = client.post(f"/leads/{lead.id}/permits", data={
        "kind": "construction", "responsible_unit": "区行政审批服务局", "due_on": due, "note": "图审"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#permits")
    permit = db.session.scalar(sa.select(Permit).where(Permit.lead_id == lead.id))
    assert (permit.kind, permit.responsible_unit, permit.due_on.isoformat(), permit.done_on) == (
        "construction", "区行政审批服务局", due, None)
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "手续办理清单" in page and "手续逾期：施工许可 12 天" in page and "逾期 12 天" in page

    later = (today() + dt.timedelta(days=10)).isoformat()
    edit = client.get(f"/permits/{permit.id}/edit")
    assert edit.status_code == 200 and "区行政审批服务局" in edit.get_data(as_text=True)
    response = client.post(f"/permits/{permit.id}/edit", data={
        "kind": "construction", "responsible_unit": "区住建局", "due_on": later, "done_on": "",
        "note": "延期"})
    assert response.status_code == 302
    db.session.expire_all()
    permit = db.session.get(Permit, permit.id)
    assert (permit.responsible_unit, permit.due_on.isoformat(), permit.note) == (
        "区住建局", later, "延期")
    assert "手续逾期" not in client.get(f"/leads/{lead.id}").get_data(as_text=True)

    assert client.post(f"/permits/{permit.id}/done",
                       data={"done_on": today().isoformat()}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Permit, permit.id).done_on == today()
    assert "已办结" in client.get(f"/leads/{lead.id}").get_data(as_text=True)


def test_bad_input_is_refused_without_a_row(client, auth, world):
    auth.login("a-head")
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    for data in ({"kind": "bogus", "due_on": "2026-01-01"}, {"kind": "land", "due_on": ""},
                 {"kind": "land", "due_on": "2026-01-01", "done_on": tomorrow}):
        client.post(f"/leads/{world.lead_a.id}/permits", data=data)
    assert db.session.scalar(sa.select(sa.func.count(Permit.id))) == 0
    permit = add(world, world.lead_a)
    response = client.post(f"/permits/{permit.id}/edit", data={
        "kind": "land", "due_on": "2026-13-01", "done_on": ""})
    assert response.status_code == 422


def add(world, lead, overdue=5, **kw):
    permit = services.add_permit(world.admin, lead, {
        "kind": kw.pop("kind", "land"), "due_on": today() - dt.timedelta(days=overdue),
        "responsible_unit": kw.pop("unit", "区自然资源局"), **kw})
    db.session.commit()
    return permit


@pytest.mark.parametrize("username,status", [
    ("a-2", 403),      # an officer of the unit not on the lead
    ("viewer", 403),   # sees everything, changes nothing
    ("b-head", 404),   # another unit's lead does not exist for them
    ("b-1", 404),
])
def test_who_may_not_change_the_checklist(client, auth, world, username, status):
    permit = add(world, world.lead_a)
    auth.login(username)
    assert client.post(f"/leads/{world.lead_a.id}/permits",
                       data={"kind": "land", "due_on": "2026-01-01"}).status_code == status
    assert client.post(f"/permits/{permit.id}/done", data={}).status_code == status
    assert client.get(f"/permits/{permit.id}/edit").status_code == status
    db.session.expire_all()
    assert db.session.get(Permit, permit.id).done_on is None
    assert db.session.scalar(sa.select(sa.func.count(Permit.id))) == 1


def test_overdue_list_by_responsible_unit(client, auth, world):
    add(world, world.lead_a, overdue=12, kind="construction", unit="区行政审批服务局")
    add(world, world.lead_a2, overdue=40, kind="environment", unit="区行政审批服务局")
    add(world, world.lead_b, overdue=3, kind="land", unit="区自然资源局")
    add(world, world.lead_b, overdue=-5, kind="fire", unit="区住建局")           # not yet due
    add(world, world.lead_b, overdue=9, kind="safety", unit="区应急管理局",
        done_on=today() - dt.timedelta(days=1))                                   # done
    auth.login("admin")
    text = client.get("/permits/overdue").get_data(as_text=True)
    assert text.index("区行政审批服务局") < text.index("区自然资源局")  # most items first
    assert "区住建局" not in text and "区应急管理局" not in text
    assert "宠物食品生产基地" in text and "专用车制造" in text and "c-red" in text
    auth.logout()
    auth.login("b-head")  # a head: their unit's items only
    text = client.get("/permits/overdue").get_data(as_text=True)
    assert "区自然资源局" in text and "区行政审批服务局" not in text
    auth.logout()
    auth.login("a-1")
    assert client.get("/permits/overdue").status_code == 403


# --- the API --------------------------------------------------------------------------------

@pytest.fixture
def api(client, world):
    tokens = {u.username: issue_token(u) for u in (world.admin, world.off_a1, world.off_a2,
                                                   world.viewer, world.head_b)}
    db.session.commit()

    def call(method, path, user="a-1", **kw):
        return client.open(f"/api/v1{path}", method=method,
                           headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)

    return call


def test_api_lists_adds_and_changes_items(api, world):
    lead = world.lead_a
    assert api("GET", f"/leads/{lead.id}/permits").get_json() == []
    due = (today() - dt.timedelta(days=31)).isoformat()
    created = api("POST", f"/leads/{lead.id}/permits", json={
        "kind": "construction", "responsible_unit": "区行政审批服务局", "due_on": due})
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert {k: item[k] for k in ("lead_id", "kind", "responsible_unit", "due_on", "done_on",
                                 "note")} == {
        "lead_id": lead.id, "kind": "construction", "responsible_unit": "区行政审批服务局",
        "due_on": due, "done_on": None, "note": ""}
    assert api("GET", f"/leads/{lead.id}").get_json()["color"] == "red"  # 31 days overdue
    patched = api("PATCH", f"/permits/{item['id']}", json={"done_on": today().isoformat(),
                                                           "note": "已取得"})
    assert patched.status_code == 200
    assert (patched.get_json()["done_on"], patched.get_json()["note"]) == (
        today().isoformat(), "已取得")
    assert api("GET", f"/leads/{lead.id}").get_json()["color"] == "blue"
    reopened = api("PATCH", f"/permits/{item['id']}", json={"done_on": None})
    assert reopened.get_json()["done_on"] is None
    assert [p["id"] for p in api("GET", f"/leads/{lead.id}/permits").get_json()] == [item["id"]]


def test_api_errors(api, world):
    lead, other = world.lead_a, world.lead_b
    body = {"kind": "land", "due_on": "2026-03-01"}
    assert api("GET", f"/leads/{other.id}/permits").status_code == 404
    assert api("POST", f"/leads/{other.id}/permits", json=body).status_code == 404
    assert api("POST", f"/leads/{lead.id}/permits", user="a-2", json=body).status_code == 403
    assert api("POST", f"/leads/{lead.id}/permits", user="viewer", json=body).status_code == 403
    assert api("GET", f"/leads/{lead.id}/permits", user="viewer").status_code == 200
    for bad in ({"kind": "bogus", "due_on": "2026-03-01"}, {"kind": "land"},
                {"kind": "land", "due_on": "2026-02-30"},
                {"kind": "land", "due_on": "2026-03-01", "done_on": "2100-01-01"},
                {"kind": "land", "due_on": "2026-03-01", "responsible_unit": "局" * 65}):
        response = api("POST", f"/leads/{lead.id}/permits", json=bad)
        assert response.status_code == 422, (bad, response.get_json())
        assert response.get_json()["error"]["fields"]
    permit = add(world, other)
    assert api("PATCH", f"/permits/{permit.id}", json={"note": "x"}).status_code == 404
    assert api("PATCH", f"/permits/{permit.id}", user="b-head",
               json={"note": "x"}).status_code == 200
    assert api("PATCH", "/permits/999999", json={"note": "x"}).status_code == 404
    assert api("PATCH", f"/permits/{permit.id}", user="b-head", json=[1]).status_code in (400, 422)
    assert db.session.scalar(sa.select(sa.func.count(Permit.id))) == 1


def test_api_is_documented(client, world):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/leads/{lead_id}/permits"])
    assert "patch" in doc["paths"]["/api/v1/permits/{permit_id}"]
    assert client.get(f"/api/v1/leads/{world.lead_a.id}/permits").status_code == 401


def test_a_list_of_leads_gets_its_permits_in_groups(world, monkeypatch):
    """A province's bulletin colours 70,000 leads: their permits are read a group at a time
    (PostgreSQL refuses more than 65,535 parameters in one statement)."""
    from crm.leads import colour

    monkeypatch.setattr(colour, "PERMITS_GROUP", 2)
    leads = [world.lead_a, world.lead_a2, world.lead_b]
    for n, lead in enumerate(leads):
        for days in range(n + 1):
            services.add_permit(world.admin, lead, {"kind": "land",
                                                    "due_on": today() + dt.timedelta(days=days)})
    db.session.commit()
    db.session.expire_all()
    leads = db.session.scalars(sa.select(Lead).where(Lead.id.in_([lead.id for lead in leads]))
                               .order_by(Lead.id)).all()
    colour.load_permits(leads)
    assert [len(lead.__dict__["permits"]) for lead in leads] == [1, 2, 3]
    assert all(p.lead_id == lead.id for lead in leads for p in lead.permits)
