"""A real gunicorn on a fresh database of each kind: free port, own folder, always stopped."""

import os

import pytest

from benchmarks import harness


def served_database(kind, tmp_path, request):
    """A migrated and seeded database URL of ``kind``; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        url = harness.sqlite_url(tmp_path)
        harness.prepare_database(url)
        return url
    server = request.getfixturevalue("pg_server_url")  # skips, or fails under CRM_REQUIRE_PG=1
    cm = harness.postgres_database(server, prefix="crm_conc")
    url = cm.__enter__()
    request.addfinalizer(lambda: cm.__exit__(None, None, None))
    harness.prepare_database(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    """(database URL, a started gunicorn with 2 workers x 4 threads) on both databases."""
    url = served_database(request.param, tmp_path, request)
    server = harness.Gunicorn(url, workers=2, threads=4, log_dir=tmp_path)
    try:
        server.start()
        yield request.param, url, server
    finally:
        server.stop()


def concurrency_seconds() -> float:
    return float(os.environ.get("CRM_CONCURRENCY_SECONDS", "30"))
