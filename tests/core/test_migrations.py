"""The migrations build exactly the models' schema, and go back down to nothing."""

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.console import run_crm

CRM = str(Path(sys.executable).with_name("crm"))


def crm(url, *args, tmp_path):
    """``crm *args`` on ``url``, in this process (tests/console.py)."""
    return run_crm(*args, env={"CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x"}, cwd=tmp_path)


def check_upgrade_check_downgrade(url, tmp_path):
    up = crm(url, "db", "upgrade", tmp_path=tmp_path)
    assert up.returncode == 0, up.stderr
    check = crm(url, "db", "check", tmp_path=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    engine = sa.create_engine(url)
    assert "leads" in sa.inspect(engine).get_table_names()
    engine.dispose()
    down = crm(url, "db", "downgrade", "base", tmp_path=tmp_path)
    assert down.returncode == 0, down.stderr
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_sqlite_upgrade_equals_models_and_downgrades(tmp_path):
    check_upgrade_check_downgrade(f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path)


def test_postgresql_upgrade_equals_models_and_downgrades(pg_server_url, tmp_path):
    name = f"crm_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(pg_server_url).set(database=name).render_as_string(False)
    try:
        check_upgrade_check_downgrade(url, tmp_path)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: Runs the migrations inside a process whose crm.* loggers exist already, as a script or a
#: deployment hook that calls flask_migrate.upgrade() does; prints whether they still log.
UPGRADE_IN_PROCESS = textwrap.dedent("""
    import logging, sys
    import sqlalchemy as sa
    from flask_migrate import upgrade
    from crm import create_app

    url, instance = sys.argv[1], sys.argv[2]
    app = create_app({"TESTING": True, "IGNORE_INSTANCE_FILE": True, "INSTANCE_PATH": instance,
                      "CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x"})
    ours = logging.getLogger("crm.something")
    before = (ours.disabled, logging.getLogger("crm.main.errors").disabled)
    with app.app_context():
        upgrade()
    engine = sa.create_engine(url)
    migrated = "leads" in sa.inspect(engine).get_table_names()
    engine.dispose()
    ours.error("still logging after the upgrade")
    print(before, ours.disabled, logging.getLogger("crm.main.errors").disabled, migrated)
""")


@pytest.mark.slow  # a process of its own: the loggers must exist before the migrations run
def test_upgrade_in_process_leaves_existing_loggers_enabled(tmp_path):
    """Alembic's fileConfig() disabled every logger that existed (crm.* went silent)."""
    url = f"sqlite:///{tmp_path / 'in-process.sqlite3'}"
    result = subprocess.run([sys.executable, "-c", UPGRADE_IN_PROCESS, url, str(tmp_path / "i")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(False,", "False)", "False", "False", "True"], result.stdout
    assert "[crm.something] still logging after the upgrade" in result.stderr


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(app, db_kind):
    if db_kind != "sqlite":
        pytest.skip("SQLite only")
    from crm.extensions import db

    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_database_enforces_constraints(app, world):
    from crm.extensions import db

    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("UPDATE leads SET stage = 'bogus' WHERE id = :i"),
                           {"i": world.lead_a.id})
        db.session.flush()
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("UPDATE leads SET township_id = 9999 WHERE id = :i"),
                           {"i": world.lead_a.id})
        db.session.flush()
    db.session.rollback()
