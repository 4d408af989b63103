"""The `crm` console script: each command works, and bad input gets a one-line error."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.console import run_crm

CRM = str(Path(sys.executable).with_name("crm"))


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{tmp / 'cli.sqlite3'}"
    env = {"CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x"}

    def run(*args, input=None):
        return run_crm(*args, env=env, cwd=tmp, input=input)

    assert run("db", "upgrade").returncode == 0
    run.url = url
    return run


def one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_townships_create(cli_db):
    result = cli_db("townships", "create", "齐村镇", "--kind", "town")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()
    assert "已存在" in one_line_error(cli_db("townships", "create", "齐村镇"))
    one_line_error(cli_db("townships", "create", "永安镇", "--kind", "city"))
    one_line_error(cli_db("townships", "create", "  "))


def test_users_create_and_tokens(cli_db):
    cli_db("townships", "create", "永安镇")
    result = cli_db("users", "create", "yongan-1", "--role", "officer", "--email",
                    "y1@example.test", "--township", "永安镇", "--password", "long-enough-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()
    assert "单位不存在" in one_line_error(cli_db(
        "users", "create", "x1", "--role", "officer", "--email", "x@example.test",
        "--township", "火星镇", "--password", "long-enough-1"))
    one_line_error(cli_db("users", "create", "x2", "--role", "king", "--email", "x@example.test",
                          "--password", "long-enough-1"))
    assert "须指定所属单位" in one_line_error(cli_db(
        "users", "create", "x3", "--role", "officer", "--email", "x@example.test",
        "--password", "long-enough-1"))
    assert "邮箱" in one_line_error(cli_db(
        "users", "create", "x4", "--role", "viewer", "--email", "not-an-email",
        "--password", "long-enough-1"))
    assert "已存在" in one_line_error(cli_db(
        "users", "create", "yongan-1", "--role", "viewer", "--email", "y@example.test",
        "--password", "long-enough-1"))
    one_line_error(cli_db("users", "create", "x5", "--role", "viewer", "--email",
                          "x@example.test", "--password", "short"))
    # the password may come on standard input
    piped = cli_db("users", "create", "x6", "--role", "viewer", "--email", "x6@example.test",
                   input="long-enough-2\n")
    assert piped.returncode == 0, piped.stderr

    token = cli_db("tokens", "create", "yongan-1")
    assert token.returncode == 0, token.stderr
    assert len(token.stdout.strip().splitlines()) == 1
    assert token.stdout.strip().startswith("crm_")
    assert "用户不存在" in one_line_error(cli_db("tokens", "create", "ghost"))
    engine = sa.create_engine(cli_db.url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar()
    engine.dispose()
    assert stored != token.stdout.strip() and len(stored) == 64


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_seed_demo_is_idempotent(cli_db):
    first = cli_db("seed-demo")
    assert first.returncode == 0, first.stderr
    assert "admin" in first.stdout and "mengzhuang-1" in first.stdout
    second = cli_db("seed-demo")
    assert second.returncode == 0
    assert "已存在" in second.stdout
    engine = sa.create_engine(cli_db.url)
    with engine.connect() as conn:
        mengzhuang = conn.execute(sa.text(
            "SELECT count(*) FROM leads l JOIN townships t ON t.id = l.township_id "
            "WHERE t.name = '孟庄镇' AND l.stage NOT IN ('producing', 'lost')")).scalar()
        users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar()
    engine.dispose()
    assert mengzhuang == 15
    assert users >= 11


@pytest.mark.slow
def test_the_installed_script_runs_and_fails_in_one_line(tmp_path):
    """The real console script (a process): it is installed, a command works, and an error is
    one line on stderr with a non-zero exit status."""
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'script.sqlite3'}",
           "CRM_SECRET_KEY": "x"}

    def run(*args):
        return subprocess.run([CRM, *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    assert run("db", "upgrade").returncode == 0
    created = run("townships", "create", "齐村镇")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().isdigit()
    assert "已存在" in one_line_error(run("townships", "create", "齐村镇"))
