"""Fixtures: an app on a real SQLite file and on a real PostgreSQL server, clients, a small world."""

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crm import create_app
from crm.extensions import db
from tests import factories

PG_DIR = Path("/tmp/crm-test-pg")
PG_PORT = 54329


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def _start_own_cluster() -> str | None:
    """Start a throwaway cluster from the installed binaries (as the postgres user)."""
    bindir = _pg_bin()
    if bindir is None or shutil.which("su") is None:
        return None
    PG_DIR.mkdir(exist_ok=True)
    shutil.chown(PG_DIR, "postgres") if os.geteuid() == 0 else None
    with open("/tmp/crm-test-pg.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = PG_DIR / "data"
        as_pg = ["su", "postgres", "-c"] if os.geteuid() == 0 else ["sh", "-c"]
        if not (data / "PG_VERSION").exists():
            subprocess.run([*as_pg, f"{bindir}/initdb -A trust -U postgres -D {data}"],
                           check=True, capture_output=True)
        ready = subprocess.run([f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT)],
                               capture_output=True)
        if ready.returncode != 0:
            subprocess.run([*as_pg, f"{bindir}/pg_ctl -D {data} -l {PG_DIR}/log -w -o "
                            f"'-p {PG_PORT} -k /tmp -c listen_addresses=127.0.0.1 "
                            f"-c fsync=off' start"], check=True, capture_output=True)
    return f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres"


@pytest.fixture(scope="session")
def pg_server_url():
    url = os.environ.get("CRM_TEST_POSTGRES_URL")
    if not url:
        with contextlib.suppress(Exception):
            url = _start_own_cluster()
    if url:
        try:
            engine = sa.create_engine(url)
            with engine.connect():
                pass
            engine.dispose()
            return url
        except Exception as exc:  # noqa: BLE001
            reason = f"PostgreSQL not reachable at {url}: {exc}"
    else:
        reason = "PostgreSQL is not installed (set CRM_TEST_POSTGRES_URL)"
    if os.environ.get("CRM_REQUIRE_PG") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_database(pg_server_url, worker_id):
    """A database of this test process's own on the server (parallel-safe)."""
    name = f"crm_t_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(pg_server_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request):
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


_pg_schema_ready: set[str] = set()


def make_app(tmp_path, url, **extra):
    config = {
        "TESTING": True,
        "IGNORE_INSTANCE_FILE": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_DATABASE_URL": url,
        "CRM_SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "CRM_MAIL_BACKEND": "file",
        # The tests build milestones through moves without reviewing them: they count on the
        # claimed basis unless a test asks for verification (tests/stats/test_verified_basis.py).
        "CRM_VERIFICATION": "off",
    }
    config.update(extra)
    return create_app(config)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request):
    return request.param


@pytest.fixture
def database_url(db_kind, tmp_path, request):
    if db_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def app_config():
    """Extra config for the app fixture; override in a test module."""
    return {}


class FreshContextClient(FlaskClient):
    """Each request in an app context of its own, as in production (own session, own g).

    The test's own session commits before and ends its transaction after, so what a test reads
    next is what the request wrote (SQLite readers keep a snapshot until their transaction ends).
    """

    def open(self, *args, **kwargs):
        db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.rollback()
        return response


@pytest.fixture
def app(database_url, tmp_path, app_config):
    app = make_app(tmp_path, database_url, **app_config)
    app.test_client_class = FreshContextClient
    with app.app_context():
        if database_url.startswith("postgresql"):
            if database_url not in _pg_schema_ready:
                db.drop_all()
                db.create_all()
                _pg_schema_ready.add(database_url)
            else:
                names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
                db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                db.session.commit()
        else:
            db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def world(app):
    """Two units with a head and two officers each, an admin, a viewer and a few leads."""
    w = factories.build_world()
    db.session.commit()
    return w


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, username, password=factories.PASSWORD, follow=False):
        return self._client.post(
            "/login", data={"username": username, "password": password},
            follow_redirects=follow,
        )

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
