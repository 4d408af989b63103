"""A property of the whole URL map (issue 13): hostile values anywhere never fail the server.

Walks ``app.url_map``: every path converter, every query parameter a view reads (found in the
source and in the OpenAPI document), every form field (each WTForms form class's fields and the
``request.form`` names the views read) and every field of the API's request bodies, with the
hostile values below, as an administrator and as an officer. For every answer: no 500; a page
that refuses speaks Chinese, the API answers its JSON error format; and nothing hostile is
stored (a dump of every table holds no NUL, zero-width or bidi character, no date outside
2000..2100, no number beyond range, no 1 MB text). A deterministic pass sends each value to
every input at once; hypothesis then mixes values across inputs.
"""

import datetime as dt
import inspect
import json
import math
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

import crm
from crm.auth.models import ApiToken
from crm.bulletin.models import ScreenLink
from crm.clock import today, utcnow
from crm.extensions import db
from crm.inputs import InputForm
from tests.security.test_authz_matrix import (
    VOLATILE_COLUMNS,
    _dump_queries,
    build_world,
    sign_in,
)

MEGABYTE = "x" * (1024 * 1024)
HOSTILE = ["Infinity", "NaN", "sNaN", str(10**20), "-1", "0001-01-01", "9999-12-31", "\x00",
           "\u200b", "\u202e", MEGABYTE]
#: The JSON forms of the same values (numbers as numbers where JSON has them).
HOSTILE_JSON = [*HOSTILE, 10**20, -1, 1e308, [[[[[]]]]]]
#: Routes not walked: sign-out ends the session the walk uses; the backup is slow and reads only.
SKIPPED = {"static", "auth.logout", "exports.admin_backup"}
ROLES = ("admin", "a1")
#: A valid value for each path argument, so that the other inputs are reached.
CJK = re.compile(r"[\u4e00-\u9fff]")


# --- what the views read -----------------------------------------------------------------------

def _source_names(pattern: str) -> set[str]:
    names: set[str] = set()
    for path in Path(inspect.getfile(crm)).parent.rglob("*.py"):
        names |= set(re.findall(pattern, path.read_text(encoding="utf-8")))
    return names


def query_names(app) -> list[str]:
    """Every query parameter a view reads: ``args.get("x")``/``args["x"]`` in the source, and
    the API's query parameters from its OpenAPI document."""
    names = _source_names(r"""args(?:\.get)?[\(\[]\s*["'](\w+)["']""")
    spec = app.extensions["crm_api"].spec.to_dict()
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in (operation.get("parameters", []) if isinstance(operation, dict)
                              else operation):
                if parameter.get("in") == "query":
                    names.add(parameter["name"])
    return sorted(names | {"page", "township_id", "officer_id", "year", "metric", "as_of"})


def _form_classes(cls=InputForm):
    from flask_wtf import FlaskForm

    seen = set()
    stack = [cls, FlaskForm]
    while stack:
        current = stack.pop()
        for sub in current.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return seen


def form_names() -> list[str]:
    """Every field of every form class, the names views read from ``request.form`` and a
    cell of the targets grid."""
    import crm.models  # noqa: F401

    for module in ("leads", "visits", "targets", "admin", "account", "reminders", "auth", "claims"):
        __import__(f"crm.{module}.forms")
    names = {name for cls in _form_classes() for name in dir(cls)
             if isinstance(getattr(cls, name, None), UnboundField)}
    names |= _source_names(r"""request\.form\.get\(\s*["'](\w+)["']""")
    return sorted(names | {"t-1-visits", "t-1-new_leads", "confirm_duplicate"})


def api_body_names(app, path: str, method: str) -> list[str]:
    spec = app.extensions["crm_api"].spec.to_dict()
    operation = spec["paths"].get(path, {}).get(method.lower(), {})
    schema = (operation.get("requestBody", {}).get("content", {})
              .get("application/json", {}).get("schema", {}))
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


# --- the world and what is "hostile" in the database ----------------------------------------------

def path_values(w) -> dict:
    token = ApiToken.issue(w.off_a1, "属性令牌", expires_at=utcnow() + dt.timedelta(days=9))[0]
    link = ScreenLink.issue(w.admin, "属性屏")[0]
    db.session.add_all([token, link])
    db.session.commit()
    return {"lead_id": w.lead_a.id, "blocker_id": w.blocker_a.id, "visit_id": w.visit_a.id,
            "township_id": w.a.id, "user_id": w.off_a2.id, "token_id": token.id,
            "link_id": link.id, "year": today().year, "token": "x", "filename": "x"}


_BAD_CHARACTERS = re.compile("[\x00\u200b\u202e]")


def _column_problem(column, value) -> str | None:
    """Why a stored value is hostile for its column, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        if _BAD_CHARACTERS.search(value) or len(value) > 100_000:
            return "text"
        if isinstance(column.type, sa.Date) and not "2000" <= value[:4] <= "2100":
            return "date"
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return None if 2000 <= value.year <= 2100 else "date"
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return "number"
    if isinstance(value, int | Decimal) and abs(value) >= 2**63:
        return "number"
    return None


def stored_problems() -> list[str]:
    """Hostile values found in any table: NUL, zero-width or bidi characters or 1 MB in text,
    a date outside 2000..2100, a number that is not finite or beyond 64 bits."""
    db.session.commit()
    tables = {t.name: t for t in db.metadata.sorted_tables}
    problems = []
    cursor = db.session.connection().connection.cursor()
    try:
        for name, query in _dump_queries():
            cursor.execute(query)
            columns = [c for c in tables[name].columns
                       if (name, c.name) not in VOLATILE_COLUMNS]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if (kind := _column_problem(column, value)) is not None:
                        problems.append(f"{name}.{column.name} ({kind}): {str(value)[:60]!r}")
    finally:
        cursor.close()
    db.session.rollback()
    return problems


# --- one request, judged ---------------------------------------------------------------------

def judge(response, path: str) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if path.startswith("/api/"):
        if status >= 400:
            body = response.get_json(silent=True) or {}
            error = body.get("error") if isinstance(body, dict) else None
            if not (isinstance(error, dict) and {"code", "message", "fields"} <= set(error)):
                return f"{status} without the JSON error format"
        return None
    if status >= 400 and status != 413 and response.mimetype == "text/html":
        if not CJK.search(response.get_data(as_text=True)):
            return f"{status} without a Chinese message"
    return None


class Walk:
    def __init__(self, app, w, clients, values):
        self.app, self.w, self.clients, self.values = app, w, clients, values
        self.tokens = {role: w.tokens[role] for role in ROLES}
        self.queries = query_names(app)
        self.forms = form_names()
        self.failures: list[str] = []
        self.stored: set[str] = set()
        self.requests = 0
        self.routes = [(rule, method) for rule in app.url_map.iter_rules()
                       if rule.endpoint not in SKIPPED
                       for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]

    def path(self, rule, hostile: dict | None = None) -> str:
        hostile = hostile or {}
        parts = {name: quote(str(hostile.get(name, self.values.get(name, 1))), safe="")
                 for name in rule.arguments}
        out = rule.rule
        for name, value in parts.items():
            out = re.sub(rf"<[^>]*\b{name}>", value, out)
        return out

    def send(self, role, method, path, *, query=None, form=None, body=None):
        headers = {}
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        kwargs = {"method": method, "headers": headers, "query_string": query}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        elif form is not None:
            kwargs["data"] = form
        response = self.clients[role].open(path, **kwargs)
        self.requests += 1
        problem = judge(response, path)
        if problem:
            shown = {k: (v[:20] if isinstance(v, str) else v) for k, v in
                     (query or form or {}).items()}
            self.failures.append(f"{role} {method} {path[:80]} {shown or (body or '')[:80]}: "
                                 f"{problem}")
        return response

    def body_for(self, rule, method, value) -> str:
        spec_path = re.sub(r"<[^>]*?(\w+)>", r"{\1}", rule.rule)
        names = api_body_names(self.app, spec_path, method) or ["x"]
        return json.dumps({name: value for name in self._some(names, value)})

    @staticmethod
    def _some(names, value):
        return names[:1] if value is MEGABYTE else names

    def request(self, role, rule, method, *, path_value=None, query_value=None,
                field_values=None):
        """One request of ``rule``: hostile path arguments, query parameters or body fields
        (the 1 MB text goes in one input only: a body of many would only be refused as too
        large)."""
        path = self.path(rule, {n: path_value for n in rule.arguments} if path_value else None)
        if method == "GET":
            query = ({name: query_value for name in self._some(self.queries, query_value)}
                     if query_value is not None else None)
            return self.send(role, method, path, query=query)
        if rule.rule.startswith("/api/"):
            value = field_values if field_values is not None else "x"
            body = value if isinstance(value, str) and value.startswith("{") else \
                self.body_for(rule, method, value)
            return self.send(role, method, path, body=body)
        form = ({name: field_values for name in self._some(self.forms, field_values)}
                if field_values is not None else {})
        return self.send(role, method, path, form=form)

    def check_stored(self, label):
        for problem in stored_problems():
            if problem not in self.stored:
                self.stored.add(problem)
                self.failures.append(f"after {label}: hostile value stored: {problem}")


@pytest.fixture
def walk(app):
    w = build_world(app, Path(app.instance_path))
    w.tokens = {"admin": w.tokens["admin"], "a1": w.tokens["a1"]}
    clients = {role: sign_in(app, role, w) for role in ROLES}
    return Walk(app, w, clients, path_values(w))


@pytest.mark.slow  # ~2,000 requests (about a minute of CPU): make test; the mixed walk below is fast
def test_every_input_of_the_url_map_with_hostile_values(walk):
    """Deterministic: each hostile value in every path argument, in every query parameter at
    once, in every form field at once and in every API body field at once; each role."""
    assert stored_problems() == []
    for role in ROLES:
        for rule, method in walk.routes:
            for value in HOSTILE:
                if rule.arguments:
                    walk.request(role, rule, method, path_value=value)
                if method == "GET":
                    walk.request(role, rule, method, query_value=value)
            if method != "GET":
                values = HOSTILE_JSON if rule.rule.startswith("/api/") else HOSTILE
                for value in values:
                    walk.request(role, rule, method, field_values=value)
            walk.check_stored(f"{role} {method} {rule.rule}")
    print(f"\nproperty walk: {len(walk.routes)} routes x {len(ROLES)} roles, "
          f"{len(walk.queries)} query parameters, {len(walk.forms)} form fields, "
          f"{len(HOSTILE)} hostile values: {walk.requests} requests, "
          f"{len(walk.failures)} failures")
    assert not walk.failures, "\n".join(walk.failures[:40])


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_hostile_values_mixed_across_inputs(walk):
    """Hypothesis: one route, a role, and a different hostile (or ordinary) value per input."""
    ordinary = st.sampled_from(["1", "2026", "2026-06-30", "contact", "项目", "", "y"])
    value = st.one_of(st.sampled_from(HOSTILE), ordinary)
    routes = walk.routes

    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def mixed(data):
        role = data.draw(st.sampled_from(ROLES))
        rule, method = data.draw(st.sampled_from(routes))
        hostile_path = data.draw(st.dictionaries(st.sampled_from(sorted(rule.arguments) or ["-"]),
                                                 value, max_size=2)) if rule.arguments else {}
        path = walk.path(rule, {k: v for k, v in hostile_path.items() if k in rule.arguments})
        if method == "GET":
            query = data.draw(st.dictionaries(st.sampled_from(walk.queries), value, max_size=6))
            walk.send(role, method, path, query=query)
        elif rule.rule.startswith("/api/"):
            spec_path = re.sub(r"<[^>]*?(\w+)>", r"{\1}", rule.rule)
            names = api_body_names(walk.app, spec_path, method) or ["x"]
            json_value = st.one_of(st.sampled_from(HOSTILE_JSON), ordinary)
            body = data.draw(st.dictionaries(st.sampled_from(names), json_value, max_size=8))
            walk.send(role, method, path, body=json.dumps(body))
        else:
            form = data.draw(st.dictionaries(st.sampled_from(walk.forms), value, max_size=10))
            walk.send(role, method, path, form=form)

    mixed()
    walk.check_stored("the mixed run")
    print(f"\nproperty mix: {walk.requests} requests, {len(walk.failures)} failures")
    assert not walk.failures, "\n".join(walk.failures[:40])
