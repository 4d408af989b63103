"""Fixtures: a real S3 server (moto) on loopback."""

from tests.s3server import s3_bucket, s3_server  # noqa: F401
