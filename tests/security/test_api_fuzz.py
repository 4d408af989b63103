"""Schemathesis against the API's own OpenAPI document, every check on: 0 failures.

The app runs in this process behind a real HTTP server on a random loopback port; schemathesis
loads /api/v1/openapi.json from it and runs all its phases (coverage, fuzzing and, where it can
link operations, stateful sequences) as a district admin and again as an officer, whose calls
outside their unit must answer 404/403 as documented and change nothing there.
"""

import threading

import pytest
import schemathesis
import sqlalchemy as sa
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from werkzeug.serving import WSGIRequestHandler, make_server

from crm.auth.services import issue_token
from crm.extensions import db
from crm.leads.models import FundEntry, Lead, StageChange
from crm.targets.models import Target
from crm.visits.models import Visit

MAX_EXAMPLES = 10
SEED = 20260101


@pytest.fixture
def app_config():
    # The limiter stays on (its code runs on every call) but far above what the run sends.
    return {"CRM_API_RATE_LIMIT": "1000000/minute"}


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


@schemathesis.check
def schema_valid_data_passes_parsing(ctx, response, case):
    """A request the spec calls valid is never refused by the request parser (400, or 422 with
    code "unprocessable"): the spec and the marshmallow schemas agree. The domain's own rules
    (dates against today, the credit code's check character, officers of the unit, dates in
    order) answer 422 with code "invalid", which JSON Schema cannot state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code == 400 or (
            response.status_code == 422 and _error_code(response) != "invalid"):
        raise AssertionError(
            f"schema-valid request refused by the parser: {response.status_code} {response.text[:300]}")
    return None


def _error_code(response):
    try:
        return response.json()["error"]["code"]
    except Exception:  # noqa: BLE001
        return None


def run_schemathesis(base_url: str, token: str) -> dict:
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {
            "enabled": True,
            # 422 is the contract's answer for the domain's rules; the check above makes sure
            # only the domain (code "invalid"), never the parser, refuses schema-valid data.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]},
        },
    })
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", config=config)
    operations = {op.ok().label for op in schema.get_all_operations()}
    figures = {"operations": len(operations), "cases": 0, "failures": [], "errors": [],
               "phases": {}}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            figures["cases"] += len(recorder.cases)
            figures["phases"][event.phase.value] = (
                figures["phases"].get(event.phase.value, 0) + len(recorder.cases))
            for checks in recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        figures["failures"].append(
                            f"{recorder.label} [{check.name}] {failure.title}: "
                            f"{failure.message[:400]}\n{check.failure_info.code_sample}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            figures["errors"].append(repr(getattr(event, "value", None)
                                          or getattr(event, "exception", None))[:500])
    return figures


def report(who, figures):
    print(f"\nschemathesis ({who}): {figures['operations']} operations, {figures['cases']} cases "
          f"({', '.join(f'{k} {v}' for k, v in sorted(figures['phases'].items()))}), "
          f"{len(figures['failures'])} failures, {len(figures['errors'])} errors")
    for line in figures["failures"][:20] + figures["errors"][:5]:
        print("  -", line)


def test_api_as_district_admin(live_server, world):
    token = issue_token(world.admin)
    db.session.commit()
    figures = run_schemathesis(live_server, token)
    report("district_admin", figures)
    assert figures["operations"] >= 11
    assert figures["cases"] >= figures["operations"] * 10
    assert figures["errors"] == []
    assert figures["failures"] == []


def _unit_b_state(world):
    lead_b = db.session.get(Lead, world.lead_b.id)
    count = lambda model, column: db.session.scalar(  # noqa: E731
        sa.select(sa.func.count()).select_from(model).where(column == world.lead_b.id))
    return {
        "version": lead_b.version, "stage": lead_b.stage, "name": lead_b.name,
        "stage_changes": count(StageChange, StageChange.lead_id),
        "visits": count(Visit, Visit.lead_id), "funds": count(FundEntry, FundEntry.lead_id),
        "targets": db.session.scalar(sa.select(sa.func.count()).select_from(Target)),
        "leads_b": db.session.scalar(
            sa.select(sa.func.count()).select_from(Lead).where(Lead.township_id == world.b.id)),
    }


def test_api_as_officer_stays_in_scope(live_server, world, db_kind):
    if db_kind != "sqlite":
        pytest.skip("the officer's run checks scope, not the database: SQLite is enough")
    token = issue_token(world.off_a1)
    db.session.commit()
    before = _unit_b_state(world)
    figures = run_schemathesis(live_server, token)
    report("officer", figures)
    db.session.rollback()
    assert figures["errors"] == []
    assert figures["failures"] == []
    # Nothing outside the officer's unit changed, whatever the fuzzer sent.
    assert _unit_b_state(world) == before
