"""Yearly targets: the service rules, the grid page, copying, history and the JSON API."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.auth.services import issue_token
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.targets import services
from crm.targets.models import METRICS, Target

YEAR = 2026


def stored(township_id, year=YEAR) -> dict:
    rows = db.session.scalars(
        sa.select(Target).where(Target.township_id == township_id, Target.year == year))
    return {t.metric: t.value for t in rows}


def set_(world, unit, year=YEAR, **values):
    services.set_targets(world.admin, unit.id, year, {k: Decimal(v) for k, v in values.items()})
    db.session.commit()


def grid(world, year=YEAR, **cells):
    """The whole grid as the page posts it: every cell, empty unless given (``a_new_leads``)."""
    data = {"year": str(year)}
    for unit in (world.a, world.b):
        for metric in METRICS:
            data[f"t-{unit.id}-{metric}"] = ""
    for key, value in cells.items():
        unit, metric = key.split("_", 1)
        data[f"t-{getattr(world, unit).id}-{metric}"] = value
    return data


# --- the service ------------------------------------------------------------------------------

def test_set_targets_upserts_deletes_and_audits(app, world):
    saved = services.set_targets(world.admin, world.a.id, YEAR, {
        "new_leads": Decimal("12"), "funds_arrived_wan": Decimal("12345.6789")})
    assert [(t.metric, t.value) for t in saved] == [
        ("new_leads", Decimal("12")), ("funds_arrived_wan", Decimal("12345.6789"))]
    db.session.commit()
    services.set_targets(world.admin, world.a.id, YEAR, {
        "new_leads": Decimal("15"), "funds_arrived_wan": None, "visits": Decimal("120")})
    services.set_targets(world.admin, world.a.id, YEAR, {"visits": Decimal("120.0")})  # no change
    db.session.commit()
    assert stored(world.a.id) == {"new_leads": Decimal("15"), "visits": Decimal("120")}
    assert stored(world.b.id) == {}
    entries = services.history(world.a.id)
    assert len(entries) == 2
    assert entries[0].user_id == world.admin.id
    assert (entries[0].action, entries[0].object_type, entries[0].object_id) == (
        "targets.set", "township", world.a.id)
    assert entries[0].changes == {"year": [YEAR, YEAR], "new_leads": ["12", "15"],
                                  "visits": [None, "120"], "funds_arrived_wan": ["12345.6789", None]}
    assert entries[1].changes == {"year": [YEAR, YEAR], "new_leads": [None, "12"],
                                  "funds_arrived_wan": [None, "12345.6789"]}
    assert services.history(world.b.id) == []


def test_set_targets_only_flushes(app, world):
    services.set_targets(world.admin, world.a.id, YEAR, {"visits": Decimal("5")})
    db.session.rollback()
    assert stored(world.a.id) == {}
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.action == "targets.set")) == 0


@pytest.mark.parametrize("username", ["viewer", "a-head", "a-1"])
def test_only_admins_set_targets(app, world, username):
    user = {"viewer": world.viewer, "a-head": world.head_a, "a-1": world.off_a1}[username]
    with pytest.raises(Forbidden):
        services.set_targets(user, world.a.id, YEAR, {"visits": Decimal("5")})
    with pytest.raises(Forbidden):
        services.copy_year(user, YEAR - 1, YEAR)


@pytest.mark.parametrize("township,year,values,field", [
    ("a", YEAR, {"bogus": Decimal(1)}, "bogus"),
    ("a", YEAR, {"visits": Decimal("-1")}, "visits"),
    ("a", YEAR, {"funds_arrived_wan": Decimal("1.23456")}, "funds_arrived_wan"),
    ("a", YEAR, {"visits": Decimal("1e12")}, "visits"),
    ("a", YEAR, {"visits": "abc"}, "visits"),
    ("a", 1999, {"visits": Decimal(1)}, "year"),
    ("a", 2101, {"visits": Decimal(1)}, "year"),
    (None, YEAR, {"visits": Decimal(1)}, "township_id"),
])
def test_set_targets_rejects_bad_input(app, world, township, year, values, field):
    township_id = world.a.id if township else 9999
    with pytest.raises(DomainError) as info:
        services.set_targets(world.admin, township_id, year, {"new_leads": Decimal(3), **values})
    assert field in info.value.fields
    db.session.rollback()
    assert stored(world.a.id) == {}


def test_targets_for_only_visible_units(app, world):
    set_(world, world.a, visits="10", new_leads="3")
    set_(world, world.b, visits="20")
    set_(world, world.b, year=YEAR - 1, visits="7")

    def seen(user):
        return [(t.township_id, t.metric) for t in services.targets_for(user, YEAR)]

    assert seen(world.admin) == [(world.a.id, "new_leads"), (world.a.id, "visits"),
                                 (world.b.id, "visits")]
    assert seen(world.viewer) == seen(world.admin)
    assert seen(world.head_a) == [(world.a.id, "new_leads"), (world.a.id, "visits")]
    assert seen(world.off_b1) == [(world.b.id, "visits")]


def test_copy_year_keeps_existing_unless_overwrite(app, world):
    set_(world, world.a, year=YEAR - 1, new_leads="10", visits="100")
    set_(world, world.b, year=YEAR - 1, funds_arrived_wan="12345.6789")
    set_(world, world.a, new_leads="12", producing="2")
    assert services.copy_year(world.admin, YEAR - 1, YEAR) == 2
    db.session.commit()
    assert stored(world.a.id) == {"new_leads": Decimal(12), "visits": Decimal(100),
                                  "producing": Decimal(2)}
    assert stored(world.b.id) == {"funds_arrived_wan": Decimal("12345.6789")}
    assert services.copy_year(world.admin, YEAR - 1, YEAR) == 0
    assert services.copy_year(world.admin, YEAR - 1, YEAR, overwrite=True) == 1
    db.session.commit()
    assert stored(world.a.id)["new_leads"] == Decimal(10)
    assert stored(world.a.id)["producing"] == Decimal(2)  # no counterpart: kept
    assert services.history(world.b.id)[0].changes == {
        "year": [YEAR, YEAR], "funds_arrived_wan": [None, "12345.6789"]}
    with pytest.raises(DomainError):
        services.copy_year(world.admin, YEAR, YEAR)


# --- the pages --------------------------------------------------------------------------------

def test_admin_saves_the_whole_grid(client, auth, world):
    set_(world, world.b, visits="9")
    auth.login("admin")
    page = client.get(f"/targets/?year={YEAR}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'name="t-{world.a.id}-new_leads"' in text and f'name="t-{world.b.id}-visits"' in text
    assert 'value="9"' in text and "复制上一年目标" in text
    response = client.post("/targets/", data=grid(
        world, a_new_leads="12", a_funds_arrived_wan="12,345.6789", b_signed_100m="３"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/targets/?year={YEAR}")
    assert stored(world.a.id) == {"new_leads": Decimal(12),
                                  "funds_arrived_wan": Decimal("12345.6789")}
    assert stored(world.b.id) == {"signed_100m": Decimal(3)}  # the emptied cell lost its target
    shown = client.get(f"/targets/?year={YEAR}").get_data(as_text=True)
    assert "已保存" in shown and 'value="12345.6789"' in shown


def test_a_bad_cell_saves_nothing_and_is_explained(client, auth, world):
    set_(world, world.a, new_leads="5")
    auth.login("admin")
    response = client.post("/targets/", data=grid(
        world, a_new_leads="8", a_funds_arrived_wan="1.23456", b_visits="-1", b_producing="abc"))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    for message in ("最多保留4位小数", "不能为负数", "须为数字", "有 3 个单元格填写有误"):
        assert message in text
    assert 'value="1.23456"' in text and 'value="8"' in text  # the input is kept
    assert f'id="t-{world.b.id}-visits-errors"' in text and 'aria-invalid="true"' in text
    assert stored(world.a.id) == {"new_leads": Decimal(5)}
    assert stored(world.b.id) == {}


def test_copy_last_year_from_the_page(client, auth, world):
    set_(world, world.a, year=YEAR - 1, new_leads="10", visits="100")
    set_(world, world.a, new_leads="12")
    auth.login("admin")
    response = client.post("/targets/copy", data={"year": str(YEAR)}, follow_redirects=True)
    assert response.status_code == 200
    assert "已将 2025 年的 1 项目标复制到 2026 年" in response.get_data(as_text=True)
    assert stored(world.a.id) == {"new_leads": Decimal(12), "visits": Decimal(100)}
    client.post("/targets/copy", data={"year": str(YEAR), "overwrite": "y"})
    assert stored(world.a.id) == {"new_leads": Decimal(10), "visits": Decimal(100)}
    empty = client.post("/targets/copy", data={"year": "2030"}, follow_redirects=True)
    assert "2029 年没有可复制的目标" in empty.get_data(as_text=True)
    assert stored(world.a.id, 2030) == {}


def test_history_lists_who_changed_what(client, auth, world):
    set_(world, world.a, funds_arrived_wan="12345.6789")
    set_(world, world.a, funds_arrived_wan="20000", visits="30")
    auth.login("admin")
    text = client.get(f"/targets/history/{world.a.id}").get_data(as_text=True)
    assert "孟庄镇" in text and "admin" in text and "到位资金（万元）" in text
    assert "12,345.6789" in text and "20,000" in text and "走访次数" in text
    assert text.index("<ins>20,000") < text.index("<ins>12,345.6789")  # newest first
    assert client.get("/targets/history/9999").status_code == 404
    auth.logout()
    auth.login("a-head")
    assert client.get(f"/targets/history/{world.a.id}").status_code == 200
    assert client.get(f"/targets/history/{world.b.id}").status_code == 404


@pytest.mark.parametrize("username", ["viewer", "a-1"])
def test_history_is_for_admins_and_the_head(client, auth, world, username):
    auth.login(username)
    assert client.get(f"/targets/history/{world.a.id}").status_code == 403


def test_head_reads_own_unit_only(client, auth, world):
    set_(world, world.a, signed_investment_wan="50000.5")
    set_(world, world.b, visits="7731")
    auth.login("a-head")
    response = client.get(f"/targets/?year={YEAR}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "50,000.5" in text and "孟庄镇" in text
    # Not in a random CSRF token either: the figure as the page would show it, between tags.
    assert "税郭镇" not in text and ">7731<" not in text and "7,731" not in text
    assert "<input" not in text.split('id="main"')[1].split("<footer")[0].replace(
        'name="csrf_token"', "")
    assert f"/targets/history/{world.a.id}" in text
    assert client.post("/targets/", data=grid(world, a_visits="1")).status_code == 403
    assert client.post("/targets/copy", data={"year": str(YEAR)}).status_code == 403
    assert stored(world.a.id) == {"signed_investment_wan": Decimal("50000.5")}


def test_viewer_reads_every_unit(client, auth, world):
    set_(world, world.a, visits="12")
    set_(world, world.b, visits="77")
    auth.login("viewer")
    text = client.get(f"/targets/?year={YEAR}").get_data(as_text=True)
    assert "孟庄镇" in text and "税郭镇" in text and "77" in text
    assert 'name="t-' not in text and "/targets/history/" not in text
    assert client.post("/targets/", data=grid(world, a_visits="1")).status_code == 403


def test_officers_have_no_targets_page(client, auth, world):
    auth.login("a-1")
    assert client.get("/targets/").status_code == 403
    assert client.post("/targets/", data=grid(world, a_visits="1")).status_code == 403


def test_year_selector_and_bad_years(client, auth, world):
    auth.login("viewer")
    text = client.get("/targets/?year=2024").get_data(as_text=True)
    assert '<option value="2024" selected>' in text
    for bad in ("1999", "abc"):  # this year's grid, with a warning
        response = client.get(f"/targets/?year={bad}")
        assert response.status_code == 200
        assert f"年份“{bad}”无效" in response.get_data(as_text=True)


# --- the API ----------------------------------------------------------------------------------

@pytest.fixture
def api(client, world):
    tokens = {u.username: issue_token(u) for u in (
        world.admin, world.viewer, world.head_a, world.off_a1)}
    db.session.commit()

    def call(method, path, user="admin", **kw):
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    return call


def test_api_put_and_get_exact_decimals(api, world):
    response = api("PUT", f"/targets/{world.a.id}/{YEAR}",
                   json={"funds_arrived_wan": 12345.6789, "new_leads": 12})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == [
        {"township_id": world.a.id, "year": YEAR, "metric": "new_leads", "target": 12},
        {"township_id": world.a.id, "year": YEAR, "metric": "funds_arrived_wan",
         "target": 12345.6789},
    ]
    assert "12345.6789" in response.get_data(as_text=True)
    assert stored(world.a.id)["funds_arrived_wan"] == Decimal("12345.6789")
    api("PUT", f"/targets/{world.b.id}/{YEAR}", json={"visits": "30"})
    body = api("GET", f"/targets?year={YEAR}").get_json()
    assert [(i["township_id"], i["metric"], i["target"]) for i in body] == [
        (world.a.id, "new_leads", 12), (world.a.id, "funds_arrived_wan", 12345.6789),
        (world.b.id, "visits", 30)]
    assert [i["township_id"] for i in api("GET", f"/targets?year={YEAR}", user="a-head")
            .get_json()] == [world.a.id, world.a.id]
    assert len(api("GET", f"/targets?year={YEAR}", user="viewer").get_json()) == 3
    assert api("GET", f"/targets?year={YEAR - 1}").get_json() == []
    left = api("PUT", f"/targets/{world.a.id}/{YEAR}", json={"new_leads": None}).get_json()
    assert [i["metric"] for i in left] == ["funds_arrived_wan"]


@pytest.mark.parametrize("body,field", [
    ({"bogus": 1}, "bogus"),
    ({"visits": -1}, "visits"),
    ({"funds_arrived_wan": 1e13}, "funds_arrived_wan"),  # 1.23456 is rounded (tests/api)
    ({"visits": "many"}, "visits"),
    ({"visits": True}, "visits"),
])
def test_api_put_invalid_values_is_422(api, world, body, field):
    response = api("PUT", f"/targets/{world.a.id}/{YEAR}", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert stored(world.a.id) == {}


def test_api_errors(api, world):
    path = f"/targets/{world.a.id}/{YEAR}"
    for user in ("a-head", "viewer"):
        response = api("PUT", path, user=user, json={"visits": 1})
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
    assert api("PUT", f"/targets/{world.b.id}/{YEAR}", user="a-head",
               json={"visits": 1}).status_code == 404
    assert api("PUT", f"/targets/9999/{YEAR}", json={"visits": 1}).status_code == 404
    year = api("PUT", f"/targets/{world.a.id}/1999", json={"visits": 1})
    assert year.status_code == 422 and "year" in year.get_json()["error"]["fields"]
    assert api("PUT", path, json=[1, 2]).status_code == 400
    assert api("PUT", path, data="{", content_type="application/json").status_code == 400
    assert api("GET", "/targets").status_code == 422
    assert api("GET", "/targets?year=abc").status_code == 422
    assert api("GET", "/targets?year=1999").status_code == 422
    assert api("GET", f"/targets?year={YEAR}", user="a-1").status_code == 403  # officers: no targets
    assert stored(world.a.id) == {}


def test_api_needs_a_token_and_is_documented(client, world):
    assert client.get(f"/api/v1/targets?year={YEAR}").status_code == 401
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "get" in doc["paths"]["/api/v1/targets"]
    put = doc["paths"]["/api/v1/targets/{township_id}/{year}"]["put"]
    assert {"403", "404", "422"} <= set(put["responses"])
