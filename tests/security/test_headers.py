"""Security headers on pages, the API and errors; HSTS behind a TLS proxy; body limits; rate limits."""

import pytest

from crm.auth.services import issue_token
from crm.extensions import db

STRICT = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def assert_secure_headers(response):
    for name, value in STRICT.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "object-src 'none'", "frame-ancestors 'none'", "base-uri 'self'",
                      "form-action 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_headers_on_pages_api_and_errors(client, auth, world):
    token = issue_token(world.admin)
    db.session.commit()
    login_page = client.get("/login")
    assert login_page.status_code == 200
    assert_secure_headers(login_page)
    assert "no-store" not in login_page.headers.get("Cache-Control", "")  # nobody signed in

    auth.login("a-1")
    page = client.get("/leads/")
    assert page.status_code == 200
    assert_secure_headers(page)
    assert page.headers["Cache-Control"] == "no-store"

    static = client.get("/static/favicon.svg")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")

    missing = client.get("/leads/999999")
    assert missing.status_code == 404
    assert_secure_headers(missing)

    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert_secure_headers(api)
    assert api.headers["Cache-Control"] == "no-store"
    api_error = client.get("/api/v1/me")
    assert api_error.status_code == 401
    assert_secure_headers(api_error)

    wrong_method = client.delete("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}


def test_cookies_are_http_only_and_lax(client, world):
    response = client.post("/login", data={"username": "a-1", "password": "correct-horse-1"})
    cookie = next(v for k, v in response.headers.items()
                  if k == "Set-Cookie" and v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"CRM_PROXY_FIX": 1}], indirect=True)
def test_hsts_only_when_the_proxy_says_https(client, app_config):
    plain = client.get("/login", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers
    secure = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_forwarded_proto_is_ignored_without_proxy_fix(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("app_config", [{"CRM_MAX_CONTENT_LENGTH": 1024}], indirect=True)
def test_too_large_requests_answer_413(client, world, app_config):
    token = issue_token(world.admin)
    db.session.commit()
    page = client.post("/login", data={"username": "x" * 4000, "password": "y"})
    assert page.status_code == 413
    assert "上传的文件过大" in page.get_data(as_text=True)
    assert page.mimetype == "text/html"
    api = client.post("/api/v1/leads", json={"name": "x" * 4000},
                      headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 413
    assert api.get_json()["error"]["code"] == "too_large"


def test_too_many_form_parts_or_too_much_form_text_answer_413(client):
    parts = client.post("/login", data={f"f{i}": "1" for i in range(1500)},
                        content_type="multipart/form-data")
    assert parts.status_code == 413
    text = client.post("/login", data={"username": "x" * (2 * 1024 * 1024), "password": "y"})
    assert text.status_code == 413
    assert "上传的文件过大" in text.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"CRM_API_RATE_LIMIT": "5/minute"}], indirect=True)
def test_rate_limit_per_token(client, world, app_config):
    tokens = {u: issue_token(getattr(world, u)) for u in ("admin", "off_a1")}
    db.session.commit()

    def call(user):
        return client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[user]}"})

    assert [call("admin").status_code for _ in range(5)] == [200] * 5
    limited = call("admin")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    body = limited.get_json()["error"]
    assert body["code"] == "rate_limited" and body["message"]
    assert call("off_a1").status_code == 200  # another user is not affected
    # Pages are not rate limited by the API's limit.
    assert client.get("/login").status_code == 200


@pytest.mark.parametrize("app_config", [{"CRM_API_RATE_LIMIT": "3/minute"}], indirect=True)
def test_rate_limit_per_address_without_token(client, app_config):
    statuses = [client.get("/api/v1/me").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    other = client.get("/api/v1/me", environ_overrides={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 401


@pytest.mark.parametrize("app_config", [{"CRM_API_RATE_LIMIT": "0"}], indirect=True)
def test_rate_limit_can_be_disabled(client, app_config):
    assert all(client.get("/api/v1/me").status_code == 401 for _ in range(20))


def test_rate_limit_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "429" in responses and "Retry-After" in responses["429"]["headers"], (method, path)
            assert "401" in responses and "default" not in responses


def test_parse_limit():
    from crm.api.ratelimit import parse_limit

    assert parse_limit("300/minute") == (300, 60)
    assert parse_limit("10/seconds") == (10, 1)
    assert parse_limit("0") is None and parse_limit("") is None
    with pytest.raises(ValueError):
        parse_limit("lots")
