"""Fixtures: an app on a real SQLite file and on a real PostgreSQL server, clients, a small world."""

import contextlib
import datetime as dt
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
from jinja2 import BytecodeCache

from crm import create_app
from crm.extensions import db
from crm.industries.services import seed_industries
from tests import factories
from tests.mailserver import TUESDAY, Smtp

PG_DIR = Path("/tmp/crm-test-pg")
PG_PORT = 54329
TESTS = Path(__file__).parent

# Tiers (registered in pyproject.toml). Set here at collection from the fixtures a test uses and
# the folder it is in, so a new test gets its markers without writing any:
#   db       it goes through a database (the app fixture, a database URL, a served database);
#   pg       it needs the PostgreSQL server (the "postgresql" parametrisation or a pg fixture);
#   browser  it drives Chromium;
#   slow     it starts servers, fuzzes them or injects faults (gunicorn, a live server, moto's
#            S3, a fake group robot, faults, concurrency, scale, the security sweeps); a long
#            property test, or one that starts a `crm` process, says so itself
#            (pytest.mark.slow). Command behaviour is tested in this process (tests/console.py);
#            one test per concern runs the real console script.
# `make check` runs `-m "not slow and not browser and not pg"`; `make test` runs everything.
DB_FIXTURES = {"app", "database_url", "db_kind", "pg_database", "pg_server_url", "world", "client",
               "runner", "served", "live"}
PG_FIXTURES = {"pg_database", "pg_server_url"}
BROWSER_FIXTURES = {"browser", "phone", "desktop"}
SLOW_FIXTURES = {"served", "proxy", "pg_url", "live_server", "s3_server", "robot"}
SLOW_FOLDERS = {"concurrency", "faults", "scale", "security"}  # security: sweeps of every route
BROWSER_FOLDERS = {"browser"}


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


def tiers(item) -> set[str]:
    """The markers of ``item`` by its fixtures, its parameters and its folder."""
    names = set(item.fixturenames)
    params = getattr(getattr(item, "callspec", None), "params", {})
    try:
        folder = Path(item.path).resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        folder = ""
    marks = set()
    if names & DB_FIXTURES:
        marks.add("db")
    if names & PG_FIXTURES or any(isinstance(v, str) and v == "postgresql" for v in params.values()):
        marks |= {"db", "pg"}
    if names & BROWSER_FIXTURES or folder in BROWSER_FOLDERS:
        marks.add("browser")
    if names & SLOW_FIXTURES or folder in SLOW_FOLDERS \
            or any(isinstance(v, str) and v == "s3" for v in params.values()):  # a moto server
        marks.add("slow")
    return marks


def pytest_collection_modifyitems(config, items):
    for item in items:
        have = {mark.name for mark in item.iter_markers()}
        for name in sorted(tiers(item) - have):
            item.add_marker(name)


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


class _SharedTemplateCode(BytecodeCache):
    """Compiled templates kept for the whole test process: every test makes an app of its own,
    and compiling each template again for each app was a third of the fast tier's time."""

    def __init__(self):
        self.codes: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if (code := self.codes.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self.codes[bucket.key] = bucket.bytecode_to_string()


_template_code = _SharedTemplateCode()


def _share_url_builders() -> None:
    """Werkzeug compiles a Python function to build each URL rule's URLs, for every app made; the
    function depends only on the rule's parts (the rule is its argument), so the test process
    compiles each once. Every test makes an app: this was a fifth of the fast tier's time."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    builders: dict[tuple, object] = {}

    def shared(rule, append_unknown=True):
        defaults = rule.defaults or {}
        # the parts (static text and argument names) and defaults the function is made of; a
        # default inside the rule is folded in by its converter, so the converter's class counts
        key = (rule.rule, tuple(rule._trace), repr(sorted(defaults.items())),
               tuple(sorted((name, type(converter).__qualname__)
                            for name, converter in rule._converters.items() if name in defaults)),
               append_unknown)
        if key not in builders:
            builders[key] = compile_builder(rule, append_unknown)
        return builders[key]

    Rule._compile_builder = shared


_share_url_builders()


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
        # The fake group robots (tests/channels/robot.py) listen on loopback.
        "CRM_WEBHOOK_ALLOWED_HOSTS": "qyapi.weixin.qq.com,oapi.dingtalk.com,127.0.0.1",
    }
    config.update(extra)
    app = create_app(config)
    app.jinja_env.bytecode_cache = _template_code
    return app


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


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory) -> Path:
    """An SQLite file with the full schema, made once per test process: each test's database
    starts as a copy of it (a file copy instead of creating every table again)."""
    folder = tmp_path_factory.mktemp("schema")
    path = folder / "schema.sqlite3"
    app = make_app(folder, f"sqlite:///{path}")
    with app.app_context():
        db.create_all()
        seed_industries()  # the list migration 0012 installs
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # the last connection checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def app(database_url, tmp_path, app_config, request):
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
            seed_industries()  # the list migration 0012 installs
            db.session.commit()
        elif (file := sa.engine.make_url(database_url).database) not in (None, "", ":memory:") \
                and not Path(file).exists():
            db.engine.dispose()  # nothing opened yet: the copy is the file the engine will open
            shutil.copyfile(request.getfixturevalue("sqlite_schema"), file)
        else:
            db.create_all()
            seed_industries()
            db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def _rules_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    return make_app(folder, f"sqlite:///{folder / 'never-opened.sqlite3'}")


@pytest.fixture
def rules_app(_rules_app):
    """An app context with the default settings and no database behind it, for pure rules that
    read a setting or a translated label (colours, parsing, workdays). Made once per process:
    a test must not change its config."""
    with _rules_app.app_context():
        yield _rules_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


#: Worlds built in this process, by (day, settings): a file copy of the database right after
#: build_world, and each object's (class, id). Building the world is most of a test's setup; a
#: copy of the file (SQLite, an empty database) gives the same rows, ids and dates.
_world_snapshots: dict[tuple, tuple[Path, dict]] = {}


def _empty_sqlite_file(app) -> str | None:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    from crm.auth.models import User

    return url.database if db.session.scalar(sa.select(sa.func.count(User.id))) == 0 else None


def _sqlite_copy(source: str, target: str) -> None:
    """A consistent copy of a live SQLite database (its WAL included), by the backup API."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(source)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture
def world(app, tmp_path_factory):
    """Two units with a head and two officers each, an admin, a viewer and a few leads."""
    from crm.clock import today

    file = _empty_sqlite_file(app)
    here = str(Path(app.instance_path).parent)  # the test's own folder: not a setting
    key = (today(), repr(sorted((k, repr(v)) for k, v in app.config.items()
                                if here not in repr(v))))
    if file is not None and key in _world_snapshots:
        snapshot, ids = _world_snapshots[key]
        db.session.remove()
        db.engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(file + suffix).unlink(missing_ok=True)
        shutil.copyfile(snapshot, file)
        w = factories.SimpleNamespace(**{name: db.session.get(model, pk)
                                         for name, (model, pk) in ids.items()})
        db.session.commit()  # no read transaction left open (SQLite would keep its snapshot)
        return w
    w = factories.build_world()
    db.session.commit()
    if file is not None:
        snapshot = tmp_path_factory.mktemp("world") / "world.sqlite3"
        _sqlite_copy(file, str(snapshot))
        _world_snapshots[key] = (snapshot, {name: (type(obj), obj.id)
                                            for name, obj in vars(w).items()})
        db.session.commit()  # reading the ids began a transaction: end it, as build_world did
    return w


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free loopback port; its inbox is ``smtp.inbox``."""
    server = Smtp()
    server.start()
    yield server
    if server.controller is not None:
        with contextlib.suppress(Exception):  # already stopped by the test
            server.stop()


@pytest.fixture
def due(world):
    """The world with reminders due on TUESDAY: a-1 one follow-up overdue, a-2 one due that day,
    b-1 nothing due."""
    world.lead_a.next_follow_up = TUESDAY - dt.timedelta(days=4)
    world.lead_a2.next_follow_up = TUESDAY
    db.session.commit()
    return world


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


def seen_on_pages(client, path: str, pages: int, names: list[str], heading: str) -> list[list[int]]:
    """Page through a list (``path?page=1`` … ``pages``): each page says ``heading`` and
    ``第 n / pages 页``; returns, per page, the indexes of ``names`` it shows."""
    seen = []
    for page in range(1, pages + 1):
        html = client.get(f"{path}?page={page}").get_data(as_text=True)
        assert heading in html and f"第 {page} / {pages} 页" in html, page
        seen.append([n for n, name in enumerate(names) if name in html])
    return seen
