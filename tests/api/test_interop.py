"""The OpenAPI document as generators read it, and the API's answers as clients parse them:
an installable title, an operationId on every operation, tags, named enums without null,
answers whose fields are all required, one ``Error`` that is what errors are, Chinese messages
only, a 409 that reports a stage move, amounts rounded half-even; and (slow) a client generated
by openapi-python-client from the live document, used against a live server."""

import datetime as dt
import importlib
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db

SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def api(client, world):
    tokens = {u.username: issue_token(u) for u in (world.admin, world.head_a, world.off_a1)}
    db.session.commit()

    def call(method, path, user="a-1", **kw):
        return client.open(f"/api/v1{path}", method=method,
                           headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)

    return call


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_the_document_makes_a_clean_client(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["info"]["title"] == "Zhaoshang CRM API"  # → zhaoshang-crm-api-client
    assert "招商 CRM" in doc["info"]["description"]
    names = [op["operationId"] for _m, _p, op in operations(doc)]
    assert len(names) == len(set(names)) and all(SNAKE.fullmatch(n) for n in names), names
    by_route = {(m, p.removeprefix("/api/v1")): op for m, p, op in operations(doc)}
    for route, name in {("get", "/leads"): "list_leads", ("post", "/leads"): "create_lead",
                        ("get", "/leads/{lead_id}"): "get_lead",
                        ("patch", "/leads/{lead_id}"): "update_lead",
                        ("post", "/leads/{lead_id}/transitions"): "move_lead",
                        ("post", "/leads/{lead_id}/visits"): "log_visit",
                        ("get", "/townships"): "list_townships",
                        ("post", "/claims/{claim_id}/review"): "review_claim"}.items():
        assert by_route[route]["operationId"] == name
    assert by_route[("get", "/townships")]["tags"] == ["townships"]
    assert by_route[("get", "/me")]["tags"] == ["me"]
    tags = {t["name"] for t in doc["tags"]}
    assert all(not t.startswith("api_") for t in tags)
    assert {t for _m, _p, op in operations(doc) for t in op["tags"]} <= tags

    schemas = doc["components"]["schemas"]
    assert "PaginationMetadata" not in schemas and "ErrorSchema" not in schemas
    # one error schema, and every error answer is it
    for _m, _p, op in operations(doc):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message", "fields"}
    # an answer's fields are all required; enums are named and never hold null
    lead = schemas["Lead"]
    assert set(lead["required"]) == set(lead["properties"]) - {"first_registered"}
    assert "notes" in lead["properties"]
    assert lead["properties"]["stage"]["allOf"] == [{"$ref": "#/components/schemas/Stage"}]
    for name in ("lost_reason", "color"):
        assert lead["properties"][name]["nullable"] is True
    assert schemas["LostReason"]["enum"] == ["investor_withdrew", "relocated", "terms_failed",
                                             "policy", "other"]
    transition = schemas["Transition"]["properties"]["lost_reason"]
    assert transition == {"nullable": True,
                          "allOf": [{"$ref": "#/components/schemas/LostReason"}]}
    assert all(None not in s.get("enum", []) for s in schemas.values())
    # the target year's range is the server's
    put = doc["paths"]["/api/v1/targets/{township_id}/{year}"]
    [year] = [p for p in put["parameters"] if p["name"] == "year"]
    assert (year["schema"]["minimum"], year["schema"]["maximum"]) == (2000, 2100)


def all_messages(body) -> list[str]:
    return [m for ms in body["error"]["fields"].values() for m in ms] + [body["error"]["message"]]


def test_messages_are_chinese(api, world):
    answers = [
        api("POST", "/leads", json={}),
        api("POST", "/leads", json={"name": "", "company": "x" * 201, "investment_wan": "多",
                                    "created_on": "明天", "officer_ids": "a", "bogus": 1}),
        api("GET", "/stats/townships?as_of=yesterday", user="admin"),
        api("GET", "/leads?per_page=0&stage=nope"),
        api("POST", f"/leads/{world.lead_a.id}/visits", json={"kind": None, "summary": 5}),
        api("PUT", f"/targets/{world.a.id}/2026", user="admin", json={"visits": "x"}),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.get_json()
        messages = all_messages(answer.get_json())
        # codes after "：" (须为以下之一：contact, …) and YYYY-MM-DD are no English
        english = [m for m in messages if re.search(r"[a-z]{4,}", m.split("：")[0])]
        assert english == [], english
    fields = answers[0].get_json()["error"]["fields"]
    assert fields["name"] == ["必填"] and fields["investment_wan"] == ["必填"]
    fields = answers[1].get_json()["error"]["fields"]
    assert fields["company"] == ["长度不能超过 200"] and fields["bogus"] == ["未知字段"]
    assert fields["name"] == ["长度不能少于 1"]
    # a body that is no object at all stays malformed (400)
    assert api("POST", "/leads", json=[1]).status_code == 400


def test_a_conflict_after_a_stage_move_names_the_stage(api, world):
    read = api("GET", f"/leads/{world.lead_a.id}").get_json()
    moved = api("POST", f"/leads/{world.lead_a.id}/transitions",
                json={"to": "negotiation", "version": read["version"]})
    assert moved.status_code == 200
    stale = api("PATCH", f"/leads/{world.lead_a.id}", json={"name": "新名",
                                                            "version": read["version"]})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["changes"] == {"stage": ["contact", "negotiation"]}
    lost = api("POST", f"/leads/{world.lead_a.id}/transitions", user="a-head",
               json={"to": "lost", "lost_reason": "relocated"})
    assert lost.status_code == 200
    stale = api("PATCH", f"/leads/{world.lead_a.id}", json={"name": "新名",
                                                            "version": read["version"]})
    assert stale.get_json()["error"]["changes"] == {
        "stage": ["contact", "lost"], "lost_reason": [None, "relocated"]}


def test_amounts_round_half_even_to_four_places(api, world):
    created = api("POST", "/leads", json={"name": "四舍六入项目", "company": "五成双有限公司",
                                          "investment_wan": 0.1 + 0.2, "land_mu": 1.005,
                                          "expected_tax_wan": 1.23455, "notes": "备注内容"})
    assert created.status_code == 201, created.get_json()
    lead = created.get_json()
    assert (lead["investment_wan"], lead["land_mu"], lead["expected_tax_wan"]) == (0.3, 1.0, 1.2346)
    assert lead["notes"] == "备注内容"  # accepted and returned
    funds = api("POST", f"/leads/{lead['id']}/funds", json={
        "arrived_on": today().isoformat(), "amount_wan": 0.00005})  # rounds to 0: refused
    assert funds.status_code == 422 and funds.get_json()["error"]["fields"]["amount_wan"]
    funds = api("POST", f"/leads/{lead['id']}/funds", json={
        "arrived_on": today().isoformat(), "amount_wan": 0.00006})
    assert funds.status_code == 201 and funds.get_json()["amount_wan"] == 0.0001
    assert api("POST", "/leads", json={"name": "负数", "company": "负数公司",
                                       "investment_wan": -0.00001}).status_code == 422


# --- a generated client against a live server ---------------------------------------------------

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.mark.slow
@pytest.mark.skipif(not GENERATOR.exists() and not shutil.which("openapi-python-client"),
                    reason="openapi-python-client is not installed (the dev extras)")
def test_a_generated_client_does_the_main_calls(live_server, world, tmp_path, db_kind):
    if db_kind != "sqlite":
        pytest.skip("the client checks the document, not the database: SQLite is enough")
    token = issue_token(world.off_a1)
    db.session.commit()
    config = tmp_path / "config.yml"
    config.write_text("post_hooks: []\n")
    generator = str(GENERATOR) if GENERATOR.exists() else shutil.which("openapi-python-client")
    run = subprocess.run(
        [generator, "generate", "--url", f"{live_server}/api/v1/openapi.json",
         "--output-path", str(tmp_path / "client"), "--config", str(config)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    project = (tmp_path / "client" / "pyproject.toml").read_text()
    assert 'name = "zhaoshang-crm-api-client"' in project  # an installable name
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        package = "zhaoshang_crm_api_client"
        client_module = importlib.import_module(package)
        leads = importlib.import_module(f"{package}.api.leads")
        models = importlib.import_module(f"{package}.models")
        importlib.import_module(f"{package}.api.leads.list_leads")
        for name in ("create_lead", "log_visit", "move_lead", "get_lead"):
            importlib.import_module(f"{package}.api.leads.{name}")
        client = client_module.AuthenticatedClient(base_url=live_server, token=token,
                                                   raise_on_unexpected_status=True)

        page = leads.list_leads.sync(client=client, per_page=10)
        assert isinstance(page, models.LeadPage) and page.total == 2
        assert {lead.name for lead in page.items} == {"宠物食品生产基地", "智能机器人"}
        assert all(isinstance(lead.stage, models.Stage) for lead in page.items)

        created = leads.create_lead.sync(client=client, body=models.LeadCreate(
            name="客户端项目", company="客户端有限公司", investment_wan=0.1 + 0.2,
            source=models.Source.CAPITAL, notes="由生成的客户端创建"))
        assert isinstance(created, models.Lead), created
        assert (created.investment_wan, created.notes) == (0.3, "由生成的客户端创建")
        assert created.stage == models.Stage.CONTACT and created.lost_reason is None
        assert created.color == models.Color.BLUE

        visit = leads.log_visit.sync(lead_id=created.id, client=client, body=models.VisitIn(
            kind=models.VisitKind.CALL, summary="电话沟通投资意向",
            visited_on=today(), next_follow_up=today() + dt.timedelta(days=7)))
        assert isinstance(visit, models.Visit) and visit.lead_id == created.id

        moved = leads.move_lead.sync(lead_id=created.id, client=client,
                                     body=models.Transition(to=models.Stage.NEGOTIATION))
        assert isinstance(moved, models.Lead) and moved.stage == models.Stage.NEGOTIATION
        assert moved.next_follow_up == today() + dt.timedelta(days=7)

        lost = leads.move_lead.sync(lead_id=created.id, client=client, body=models.Transition(
            to=models.Stage.LOST, lost_reason=models.LostReason.RELOCATED))
        assert lost.stage == models.Stage.LOST and lost.color is None
        assert lost.lost_reason == models.LostReason.RELOCATED

        # errors parse as the documented Error
        refused = leads.move_lead.sync(lead_id=created.id, client=client,
                                       body=models.Transition(to=models.Stage.SIGNED))
        assert isinstance(refused, models.Error) and refused.error.code
        missing = leads.get_lead.sync(lead_id=2**31 - 2, client=client)
        assert isinstance(missing, models.Error) and missing.error.code == "not_found"
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [m for m in sys.modules if m.startswith("zhaoshang_crm_api_client")]:
            del sys.modules[name]
