"""With CSRF protection on, as in production.

Every state-changing form route refuses a post without the token (400) and writes nothing, while
the same post with the token goes through (so the 400 is the token's doing). The API is exempt
from CSRF because it takes only a bearer token: a signed-in browser session without one gets 401
and writes nothing, so a page elsewhere cannot use a user's cookie to call it.

The routes, bodies and the principal who may make each post come from the authorization matrix
(``tests/security/test_authz_matrix.py``), so a new route there is checked here too.
"""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from crm.extensions import db
from tests import factories
from tests.security.test_authz_matrix import (
    PRINCIPALS,
    ROUTES,
    USERNAMES,
    Cell,
    _send,
    build_world,
    changed_tables,
    fingerprint,
    outcome_matches,
    request_kwargs,
)

CHANGING = ("POST", "PUT", "PATCH", "DELETE")
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def csrf_token(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = TOKEN.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(app, principal):
    """A client signed in through the real form (token and all), and its session's token."""
    client = app.test_client()
    token = csrf_token(client)
    if principal != "anon":
        response = client.post("/login", data={"username": USERNAMES[principal],
                                                "password": factories.PASSWORD,
                                                "csrf_token": token})
        assert response.status_code == 302, principal
        token = csrf_token(client, "/password")
    return client, token


@pytest.fixture
def world_csrf(app):
    w = build_world(app, Path(app.instance_path))
    signed = {p: sign_in(app, p) for p in PRINCIPALS if p != "gone"}
    m = SimpleNamespace(app=app, w=w, clients={p: c for p, (c, _t) in signed.items()},
                        tokens={p: t for p, (_c, t) in signed.items()})
    m.clients["gone"] = m.clients["anon"]
    return m


def _poster(route):
    """Who may make this post (``ok`` in the matrix): the admin if possible."""
    allowed = [p for p in PRINCIPALS if route.outcomes[p] == "ok" or route.outcomes[p][0] == "2"]
    return "admin" if "admin" in allowed else (allowed[0] if allowed else None)


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_every_form_post_needs_the_csrf_token(world_csrf):
    m = world_csrf
    checked, failures = set(), []
    for route in ROUTES:
        if route.method not in CHANGING or route.path.startswith("/api/"):
            continue
        principal = _poster(route)
        if principal is None:  # a variant nobody may post (e.g. a revoked link): skip
            continue
        client, token = m.clients[principal], m.tokens[principal]
        if route.fresh_client:  # e.g. signing out: a session of its own
            client, token = sign_in(m.app, principal)
        kwargs = request_kwargs(route, Cell(m.w, principal))
        before = fingerprint()
        refused = client.open(**kwargs)
        changed = changed_tables(before, fingerprint())
        if refused.status_code != 400:
            failures.append(f"{route.method} {kwargs['path']} without a token as {principal}:"
                            f" {refused.status_code}")
        if changed:
            failures.append(f"{route.method} {kwargs['path']} without a token wrote {changed}")
        if refused.status_code == 400 and "请求有误" not in refused.get_data(as_text=True):
            failures.append(f"{route.method} {kwargs['path']}: 400 without the Chinese message")
        # the same post with the token is accepted (the refusal was the token's doing)
        kwargs = request_kwargs(route, Cell(m.w, principal))
        if "json" in kwargs:  # a JSON call (the offline queue's) sends the token in a header
            kwargs["headers"] = {**kwargs.get("headers", {}), "X-CSRFToken": token}
        elif "data" in kwargs:
            kwargs["data"]["csrf_token"] = token
        else:
            kwargs["data"] = {"csrf_token": token}
        accepted = client.open(**kwargs)
        if not outcome_matches(route.outcomes[principal], accepted):
            failures.append(f"{route.method} {kwargs['path']} with the token as {principal}:"
                            f" {accepted.status_code}")
        db.session.expire_all()
        checked.add((route.endpoint, route.method))
    print(f"\ncsrf: {len(checked)} state-changing form routes refuse a post without the token")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 20


def test_the_api_refuses_a_browser_session(world_csrf):
    """Cookie-only requests (no bearer token) get 401 on every API call and write nothing; the
    same calls with the bearer token work with CSRF on (the API is exempt, being bearer-only)."""
    m = world_csrf
    admin = m.clients["admin"]
    failures, calls = [], 0
    for route in ROUTES:
        if not route.path.startswith("/api/") or route.endpoint == "api-docs.openapi_json":
            continue
        kwargs = request_kwargs(route, Cell(m.w, "admin"))
        before = fingerprint()
        response = admin.open(**kwargs)  # the session cookie, no Authorization header
        changed = changed_tables(before, fingerprint())
        calls += 1
        if response.status_code != 401 or changed:
            failures.append(f"{route.method} {kwargs['path']} with only a session cookie: "
                            f"{response.status_code}, wrote {changed}")
        kwargs = request_kwargs(route, Cell(m.w, "admin"))
        with_token = _send(route, "admin", kwargs, m.w, m.clients, m.app)
        if not outcome_matches(route.outcomes["admin"], with_token):
            failures.append(f"{route.method} {kwargs['path']} with the bearer token: "
                            f"{with_token.status_code}")
        db.session.expire_all()
    assert calls >= 10
    assert not failures, "\n".join(failures)
