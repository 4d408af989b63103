"""A real S3 server on loopback for tests: moto's standalone server, one per session and worker.

Use it from a conftest: ``from tests.s3server import s3_bucket, s3_server  # noqa: F401``.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _moto_server_command() -> list[str] | None:
    for candidate in (Path(sys.executable).with_name("moto_server"), shutil.which("moto_server")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@pytest.fixture(scope="session")
def s3_server():
    """``{endpoint_url, access_key, secret_key, region}`` of a moto server started for the tests."""
    pytest.importorskip("boto3", reason="boto3 is not installed")
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    command = _moto_server_command()
    if command is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = _free_port()
        process = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env={**os.environ, "MOTO_CALL_RESET_API": "false"})
        deadline = time.monotonic() + 30
        while process.poll() is None and not _answers(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None and _answers(port):
            break
        process.kill()
        process.wait()
    else:
        pytest.fail("moto_server did not start")
    try:
        yield {"endpoint_url": f"http://127.0.0.1:{port}", "access_key": "test-key",
               "secret_key": "test-secret", "region": "us-east-1"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the test server; returns its name."""
    import boto3

    name = f"crm-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server["endpoint_url"],
                          aws_access_key_id=s3_server["access_key"],
                          aws_secret_access_key=s3_server["secret_key"],
                          region_name=s3_server["region"])
    client.create_bucket(Bucket=name)
    return name
