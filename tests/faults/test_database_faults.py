"""The database unreachable at start and mid-request: a clear 503, and recovery without a restart.

PostgreSQL is reached through a loopback TCP proxy (tests/faults/netfaults.py) that the tests
sever and restore: the real server, a real network outage. SQLite is a database file that cannot
be opened yet (a missing folder, a folder where the file should be).
"""

import logging
import threading
import time

import pytest
import sqlalchemy as sa

from crm.auth.services import issue_token
from crm.extensions import db
from tests import factories
from tests.conftest import make_app, wait_for
from tests.faults.netfaults import TcpProxy

UNAVAILABLE = "数据库暂时无法连接"
FAULTS = {"injected": 0}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def database_log(caplog):
    """The database log at ERROR, even after a `db upgrade` in this process (Alembic's logging
    setup disables the loggers that exist when it runs)."""
    logging.getLogger("crm.database").disabled = False
    caplog.set_level(logging.ERROR, logger="crm.database")
    return caplog


@pytest.fixture
def proxy(pg_database):
    url = sa.engine.make_url(pg_database)
    server = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield server
    finally:
        server.sever()


@pytest.fixture
def database_url(proxy, pg_database):
    """The test database, reached through the proxy. A server that trusts loopback ignores the
    password; one is set anyway so that the logs can be checked for it."""
    url = sa.engine.make_url(pg_database).set(host="127.0.0.1", port=proxy.port)
    if not url.password:
        url = url.set(password="fault-secret-pw")
    return url.render_as_string(hide_password=False)


def assert_unavailable_page(response):
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Retry-After"].isdigit()
    assert response.mimetype == "text/html"
    assert UNAVAILABLE in response.text
    for leak in ("Traceback", "OperationalError", "psycopg", "sqlite3", "SELECT", "127.0.0.1"):
        assert leak not in response.text
    FAULTS["injected"] += 1


def assert_unavailable_json(response):
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert body["error"]["code"] == "unavailable" and UNAVAILABLE in body["error"]["message"]
    assert "Traceback" not in response.text and "psycopg" not in response.text
    FAULTS["injected"] += 1


def assert_logged_without_secrets(caplog, url: str):
    records = [r for r in caplog.records if r.name == "crm.database"]
    assert records, "the database error was not logged"
    text = "\n".join(r.getMessage() for r in records)
    password = sa.engine.make_url(url).password
    assert f":{password}@" not in text and "***" in text
    assert "[SQL:" not in text and "[parameters:" not in text and "SELECT" not in text
    assert all(r.exc_info is None for r in records)  # no stack trace either
    return text


def test_postgresql_severed_then_restored_same_app(app, client, auth, world, proxy, caplog,
                                                   database_url):
    token = issue_token(world.off_a1)
    lead_id = world.lead_a.id
    db.session.commit()
    api = {"Authorization": f"Bearer {token}"}
    before = FAULTS["injected"]
    auth.login("a-1")
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me", headers=api).status_code == 200

    proxy.sever()  # listener closed, every open connection (the pool's too) cut
    assert_unavailable_page(client.get("/"))
    assert_unavailable_page(client.get(f"/leads/{lead_id}"))
    assert_unavailable_json(client.get("/api/v1/me", headers=api))
    health = client.get("/healthz")
    assert health.status_code == 503
    # a page that is not there, whose 404 page would ask who is signed in: a 503 as well
    assert_unavailable_page(client.get("/no-such-page"))
    log = assert_logged_without_secrets(caplog, database_url)
    assert "database unavailable on GET /" in log

    proxy.restore()
    home = client.get("/")
    assert home.status_code == 200 and "孟庄镇" in home.text  # still signed in, same app
    assert client.get("/api/v1/me", headers=api).get_json()["username"] == "a-1"
    assert client.get("/healthz").status_code == 200
    print(f"\ndatabase faults: PostgreSQL severed (connections cut, port closed): "
          f"{FAULTS['injected'] - before} requests answered 503, then 200 on the same app after restore")


def test_postgresql_down_when_the_app_starts(app, world, proxy, tmp_path, database_url):
    token = issue_token(world.off_a1)
    db.session.commit()
    db.session.remove()
    db.engine.dispose()
    proxy.sever()
    started = time.monotonic()
    fresh = make_app(tmp_path / "second", database_url)  # needs no connection
    assert time.monotonic() - started < 5
    client = fresh.test_client()
    assert client.get("/login").status_code == 200  # the sign-in page needs no database
    assert_unavailable_page(client.post("/login", data={"username": "a-1",
                                                        "password": factories.PASSWORD}))
    assert_unavailable_json(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}))

    proxy.restore()
    assert client.post("/login", data={"username": "a-1",
                                       "password": factories.PASSWORD}).status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with fresh.app_context():
        db.engine.dispose()
    print("\ndatabase faults: app started with PostgreSQL down: 503 page and API, 200 once it is up")


def sleeping_on_the_server(url) -> bool:
    """Whether the request's ``pg_sleep`` is running on the server (seen past the proxy)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND datname = current_database() AND query LIKE 'SELECT pg\\_sleep(3)%' "
                "AND pid <> pg_backend_pid()")))
    finally:
        engine.dispose()


@pytest.mark.parametrize("when", ["between-queries", "during-query"])
def test_postgresql_lost_in_the_middle_of_a_request(app, client, world, proxy, pg_database, when):
    reached, severed = threading.Event(), threading.Event()

    @app.route("/_faults/two-queries")
    def two_queries():
        db.session.execute(sa.text("SELECT 1"))
        if severed.is_set():  # the request after the outage
            return "done"
        reached.set()
        if when == "between-queries":
            severed.wait(10)
            db.session.execute(sa.text("SELECT count(*) FROM users"))
        else:
            db.session.execute(sa.text("SELECT pg_sleep(3)"))
        return "done"

    answers = {}

    def request():
        with app.app_context():
            started = time.monotonic()
            answers["response"] = client.get("/_faults/two-queries")
            answers["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=request)
    thread.start()
    try:
        assert reached.wait(10)
        if when == "during-query":
            assert wait_for(lambda: sleeping_on_the_server(pg_database))
        proxy.sever()
        severed.set()
        thread.join(15)
        assert not thread.is_alive()
    finally:
        severed.set()
    assert_unavailable_page(answers["response"])
    assert answers["seconds"] < 3  # an answer as soon as the connection broke, not at the end
    proxy.restore()
    assert client.get("/_faults/two-queries").status_code == 200
    print(f"\ndatabase faults: PostgreSQL lost {when}: 503 at once, next request 200")


@pytest.mark.parametrize("fault", ["missing-folder", "folder-in-the-way"])
def test_sqlite_file_unreachable_then_created(tmp_path, fault, caplog):
    folder = tmp_path / "data"
    path = folder / "crm.sqlite3"
    if fault == "folder-in-the-way":
        path.mkdir(parents=True)
    app = make_app(tmp_path, f"sqlite:///{path}")  # needs no database
    client = app.test_client()
    login = {"username": "admin", "password": factories.PASSWORD}
    assert_unavailable_page(client.post("/login", data=login))
    assert client.get("/healthz").status_code == 503
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "crm.database")
    assert "unable to open database file" in text

    if fault == "folder-in-the-way":
        path.rmdir()
    else:
        folder.mkdir()
    migrated = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert migrated.exit_code == 0, migrated.output
    with app.app_context():
        factories.build_world()
        db.session.commit()
        db.session.remove()
    assert client.post("/login", data=login).status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200
    with app.app_context():
        db.engine.dispose()
    print(f"\ndatabase faults: SQLite {fault}: 503, then 200 after `crm db upgrade`, no restart")


def test_a_broken_query_is_still_a_500_not_a_503(tmp_path, database_log):
    """Only an unreachable database is a 503: SQLite calls a syntax error an OperationalError too,
    and it must not be passed off as "try again later"."""
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite3'}")

    @app.route("/_faults/bad-sql")
    def bad_sql():
        db.session.execute(sa.text("SELEC 1"))
        return "done"

    response = app.test_client().get("/_faults/bad-sql")
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert UNAVAILABLE not in response.text and "SELEC" not in response.text
    assert not [r for r in database_log.records if "unavailable" in r.getMessage()]
    with app.app_context():
        db.engine.dispose()
