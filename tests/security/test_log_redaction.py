"""Error logs name the request by its path with the secret of a secret link redacted
(`/screen/<token>`, `/reminders/unsubscribe/<token>`), the way the access log does, and never
its query string; the answer carries no stack trace."""

import logging
import secrets

import pytest
import sqlalchemy as sa

from crm.bulletin.models import TOKEN_PREFIX
from crm.extensions import db

TOKEN = TOKEN_PREFIX + secrets.token_urlsafe(32)
QUERY_SECRET = secrets.token_hex(12)

SECRET_URLS = [
    (f"/screen/{TOKEN}", "/screen/[redacted]"),
    (f"/reminders/unsubscribe/{TOKEN}", "/reminders/unsubscribe/[redacted]"),
]


class Boom(Exception):
    pass


def fail_on_secret_links(app, fault):
    """Run ``fault`` before any view of a secret link: the real URL, the app's real handlers."""

    @app.before_request
    def before():
        from flask import request

        if request.path.startswith(("/screen/", "/reminders/unsubscribe/")):
            fault()


def assert_redacted(caplog, logger: str, redacted: str, text: str):
    records = [r for r in caplog.records if r.name == logger]
    assert records, caplog.text
    assert any(redacted in r.getMessage() and text in r.getMessage() for r in records), caplog.text
    assert TOKEN not in caplog.text
    assert QUERY_SECRET not in caplog.text


def assert_no_stack_trace(response, *words):
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    for word in words:
        assert word not in body


@pytest.mark.parametrize("url, redacted", SECRET_URLS, ids=["screen", "unsubscribe"])
def test_an_unhandled_error_is_logged_without_the_token(app, client, caplog, url, redacted):
    def fault():
        raise RuntimeError("kaboom in the view")

    fail_on_secret_links(app, fault)
    caplog.set_level(logging.ERROR)
    response = client.get(f"{url}?token={QUERY_SECRET}")
    assert response.status_code == 500
    assert_no_stack_trace(response, "kaboom", "RuntimeError")
    assert_redacted(caplog, "crm.main.errors", redacted, "unhandled error on GET")
    assert "kaboom in the view" in caplog.text  # the traceback is logged, only the token is not


@pytest.mark.parametrize("url, redacted", SECRET_URLS, ids=["screen", "unsubscribe"])
def test_a_database_error_is_logged_without_the_token(app, client, caplog, url, redacted):
    def fault():
        db.session.execute(sa.text("SELECT * FROM no_such_table_here"))

    fail_on_secret_links(app, fault)
    caplog.set_level(logging.ERROR)
    response = client.get(f"{url}?token={QUERY_SECRET}")
    assert response.status_code == 500
    assert_no_stack_trace(response, "no_such_table_here")
    assert_redacted(caplog, "crm.database", redacted, "unhandled error on GET")


def test_an_unavailable_database_is_logged_without_the_token(app, client, caplog, db_kind):
    def fault():
        if db_kind == "sqlite":  # SQLITE_CANTOPEN: the file cannot be opened
            db.session.execute(sa.text("ATTACH DATABASE '/no-such-dir/x.sqlite3' AS gone"))
        else:  # a statement timeout: PostgreSQL cannot answer now
            db.session.execute(sa.text("SET LOCAL statement_timeout = 1"))
            db.session.execute(sa.text("SELECT pg_sleep(0.5)"))

    fail_on_secret_links(app, fault)
    caplog.set_level(logging.ERROR)
    response = client.get(f"/screen/{TOKEN}?token={QUERY_SECRET}")
    assert response.status_code == 503
    assert_no_stack_trace(response)
    assert_redacted(caplog, "crm.database", "/screen/[redacted]", "database unavailable on GET")


def test_flasks_own_log_of_a_failing_handler_has_no_token(app, client, caplog):
    """What an error handler raises reaches Flask's log_exception (when exceptions do not
    propagate, as in production); its line is redacted too."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def fault():
        raise Boom

    def failing_handler(exc):
        raise RuntimeError("the handler failed")

    fail_on_secret_links(app, fault)
    app.register_error_handler(Boom, failing_handler)
    caplog.set_level(logging.ERROR)
    response = client.get(f"/screen/{TOKEN}?token={QUERY_SECRET}")
    assert response.status_code == 500
    assert_no_stack_trace(response, "the handler failed")
    assert_redacted(caplog, app.logger.name, "/screen/[redacted]", "Exception on")


def test_the_access_log_and_the_error_log_share_one_redaction():
    import crm.gunicorn_conf as conf
    from crm import logs

    assert conf.redact is logs.redact
    assert logs.redact(f"/screen/{TOKEN}") == "/screen/[redacted]"
    assert logs.redact("/screen/links/4/revoke") == "/screen/links/4/revoke"
