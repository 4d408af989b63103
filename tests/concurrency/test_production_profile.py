"""The production profile in-process: transactions of writers, /healthz, gunicorn settings,
the PostgreSQL pool and the scheduler's configurable times."""

import importlib
import threading

import pytest
import sqlalchemy as sa

from crm import create_app, db_events
from crm.config import load_settings
from crm.extensions import db


def _statements(engine):
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement.strip().upper())

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_sqlite_write_requests_begin_immediate_and_reads_stay_deferred(app, client, auth, world):
    lead_id = world.lead_a.id
    seen = _statements(db.engine)
    auth.login("a-1")
    seen.clear()
    assert client.get(f"/leads/{lead_id}").status_code == 200
    assert "BEGIN" in seen and "BEGIN IMMEDIATE" not in seen
    seen.clear()
    response = client.post(f"/leads/{lead_id}/visits", data={
        "visited_on": "2026-01-05", "kind": "visit", "summary": "谈用地"})
    assert response.status_code in (200, 302)
    assert seen[0] == "BEGIN IMMEDIATE"


def _counter_engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'race.sqlite3'}", connect_args={"timeout": 15})
    db_events.configure_engine(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    return engine


def _two_read_then_write(engine, intent: bool):
    """A and B each read the counter then write it; A commits while B waits for the lock."""
    token = db_events.write_intent.set(intent)
    a, b = engine.connect(), engine.connect()
    try:
        a.begin()
        a.exec_driver_sql("SELECT n FROM counter").scalar()
        a.exec_driver_sql("UPDATE counter SET n = n + 1")
        timer = threading.Timer(0.3, a.commit)
        timer.start()
        b.begin()  # IMMEDIATE: waits here until A commits; deferred: goes on with a stale snapshot
        n = b.exec_driver_sql("SELECT n FROM counter").scalar()
        b.exec_driver_sql("UPDATE counter SET n = ?", (int(n) + 1,))
        b.commit()
    finally:
        timer.join()
        db_events.write_intent.reset(token)
        b.close()
        a.close()
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT n FROM counter").scalar()


def test_sqlite_deferred_read_then_write_fails_and_immediate_waits(tmp_path):
    engine = _counter_engine(tmp_path)
    try:
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            _two_read_then_write(engine, intent=False)
        assert _two_read_then_write(engine, intent=True) == 3  # both increments kept
    finally:
        engine.dispose()


def test_healthz_answers_ok_from_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("url", ["postgresql+psycopg://crm:crm@127.0.0.1:1/none",
                                 "sqlite:////nonexistent-dir/crm.sqlite3"])
def test_healthz_is_503_without_a_database(tmp_path, url):
    app = create_app({"CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x", "IGNORE_INSTANCE_FILE": True,
                      "INSTANCE_PATH": str(tmp_path)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert b"Traceback" not in response.data


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRM_BIND", "127.0.0.1:8123")
    monkeypatch.setenv("CRM_WORKERS", "3")
    monkeypatch.setenv("CRM_THREADS", "6")
    import crm.gunicorn_conf as conf

    conf = importlib.reload(conf)
    assert (conf.bind, conf.workers, conf.threads, conf.worker_class) == (
        ["127.0.0.1:8123"], 3, 6, "gthread")
    # The path without the query string: tokens in links never reach the access log.
    assert "%(U)s" in conf.access_log_format
    assert "%(r)s" not in conf.access_log_format and "%(q)s" not in conf.access_log_format
    assert conf.logger_class is conf.AccessLogger
    assert conf.redact("/reminders/unsubscribe/abc.DEF-123") == "/reminders/unsubscribe/[redacted]"
    assert conf.redact("/screen/s3cr3t") == "/screen/[redacted]"
    assert conf.redact("/screen/links/4/revoke") == "/screen/links/4/revoke"
    assert conf.redact("/leads/12") == "/leads/12"
    monkeypatch.delenv("CRM_WORKERS")
    monkeypatch.delenv("CRM_BIND")
    conf = importlib.reload(conf)
    assert conf.bind == ["127.0.0.1:8000"] and 1 <= conf.workers <= 8


def test_postgresql_pool_is_sized_to_the_threads(tmp_path):
    from crm import engine_options

    env = {"CRM_DATABASE_URL": "postgresql+psycopg://u@h/d", "CRM_THREADS": "6",
           "CRM_SECRET_KEY": "x"}
    settings = load_settings(tmp_path, {}, environ=env)
    options = engine_options(settings["CRM_DATABASE_URL"], settings)
    assert options["pool_size"] == 6 and options["pool_pre_ping"] is True
    assert options["max_overflow"] == 4 and options["pool_recycle"] > 0
    settings = load_settings(tmp_path, {}, environ={**env, "CRM_DB_POOL_SIZE": "9",
                                                    "CRM_DB_MAX_OVERFLOW": "0"})
    assert engine_options(settings["CRM_DATABASE_URL"], settings)["pool_size"] == 9
    assert engine_options(settings["CRM_DATABASE_URL"], settings)["max_overflow"] == 0
    assert "pool_size" not in engine_options("sqlite:///x.db", settings)


def test_scheduler_times_are_settings_and_default_to_the_documented_ones(tmp_path):
    from crm.reminders.scheduler import build

    def triggers(**config):
        app = create_app({"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "CRM_SECRET_KEY": "x",
                          "IGNORE_INSTANCE_FILE": True, "INSTANCE_PATH": str(tmp_path), **config})
        scheduler = build(app, blocking=False)
        return {job.id: str(job.trigger) for job in scheduler.get_jobs()}

    default = triggers()
    assert "hour='8', minute='30'" in default["daily-follow-ups"]
    assert "day_of_week='mon', hour='8', minute='0'" in default["weekly-digest"]
    moved = triggers(CRM_DAILY_REMINDER_TIME="07:15", CRM_WEEKLY_REMINDER_TIME="17:05:30",
                     CRM_WEEKLY_REMINDER_DAY="fri")
    assert "hour='7', minute='15', second='0'" in moved["daily-follow-ups"]
    assert "day_of_week='fri', hour='17', minute='5', second='30'" in moved["weekly-digest"]
    with pytest.raises(ValueError, match="HH:MM"):
        triggers(CRM_DAILY_REMINDER_TIME="25:00")
