"""Evidence files: one small interface, a local backend and an S3-compatible one (CRM_STORAGE_URL).

Files are content-addressed: the key is the SHA-256 of the bytes, so storing the same file twice
keeps one copy, a key never changes meaning, and a stored file is never rewritten in place. A
read checks the bytes against their key, so a damaged copy is an error, never wrong evidence.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from crm.files import delete_older_than


class Storage(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; return its key (the SHA-256 in hex). Idempotent."""

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; FileNotFoundError when absent."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def keys(self):
        """Every stored key (for backups and checks)."""


class StorageError(OSError):
    """The store could not be reached or answered an error (not a missing key)."""


class CorruptFile(StorageError):
    """The stored bytes no longer match their key."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_key(key) -> bool:
    return (isinstance(key, str) and len(key) == 64
            and all(c in "0123456789abcdef" for c in key))


def _check_key(key: str) -> str:
    if not is_key(key):
        raise ValueError("not a storage key")
    return key


def _checked(key: str, data: bytes) -> bytes:
    if sha256_hex(data) != key:
        raise CorruptFile(f"stored file {key} does not match its key")
    return data


class LocalStorage:
    """Files under ``root``/ab/abcdef… written atomically (temp file, fsync, rename, fsync dir).

    A crash leaves either the whole file or none (at worst a ``.tmp-*`` file that ``keys`` skips
    and ``remove_stale_temp_files`` clears). Two writers of the same file both rename a complete
    copy of the same bytes, so there is no race to lose.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self):
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        data = bytes(data)
        key = sha256_hex(data)
        path = self._path(key)
        try:
            if path.stat().st_size == len(data):
                return key
        except FileNotFoundError:
            pass
        # (a copy of the wrong size is damaged: rewritten below)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return key

    def get(self, key: str) -> bytes:
        return _checked(key, self._path(key).read_bytes())

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self):
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/*")):
            if is_key(path.name) and path.parent.name == path.name[:2] and path.is_file():
                yield path.name

    def remove_stale_temp_files(self, older_than_seconds: float = 3600) -> int:
        """Delete temp files a crash left behind (older than an upload can take); return how many."""
        import time

        return delete_older_than(self.root.glob("??/.tmp-*"), time.time() - older_than_seconds)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


class S3Storage:
    """Objects ``PREFIX/<key>`` in one bucket of any S3-compatible store (MinIO, Ceph, cloud OSS).

    Uploads carry Content-MD5, so the store refuses a body damaged on the way; reads are checked
    against the key. Objects are stored as ``application/octet-stream`` so a bucket opened to the
    web by mistake never serves them as a page. Addressing is path-style when an endpoint is
    given (MinIO, Ceph); ``?addressing_style=virtual`` in the URL for stores that need it (OSS).
    """

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 region: str | None = None, addressing_style: str | None = None, client=None):
        if not bucket:
            raise ValueError("S3 storage needs a bucket: s3://BUCKET/PREFIX")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3
            from botocore.config import Config

            style = addressing_style or ("path" if endpoint_url else "auto")
            client = boto3.client(
                "s3", endpoint_url=endpoint_url or None, aws_access_key_id=access_key or None,
                aws_secret_access_key=secret_key or None, region_name=region or "us-east-1",
                config=Config(
                    s3={"addressing_style": style}, signature_version="s3v4",
                    retries={"max_attempts": 4, "mode": "standard"},
                    connect_timeout=5, read_timeout=60,
                    # Newer boto3 adds CRC checksums many S3-compatible stores refuse; we send
                    # Content-MD5 and check SHA-256 ourselves instead.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        self.client = client

    #: Keys asked for per listing request (S3 answers at most 1000).
    list_page_size = 1000

    def __repr__(self):
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _name(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, exc) -> StorageError:
        return StorageError(f"S3 storage ({self.bucket}): {exc}")

    @staticmethod
    def _is_missing(exc) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in {"404", "NoSuchKey", "NotFound"} or status == 404

    def put(self, data: bytes) -> str:
        import base64

        data = bytes(data)
        key = sha256_hex(data)
        if self.exists(key):
            return key
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 (transfer check)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data,
                                   ContentMD5=md5, ContentType="application/octet-stream")
        except Exception as exc:  # noqa: BLE001  (botocore's errors, network errors)
            raise self._error(exc) from exc
        return key

    def get(self, key: str) -> bytes:
        name = self._name(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except Exception as exc:  # noqa: BLE001
            if self._is_missing(exc):
                raise FileNotFoundError(key) from None
            raise self._error(exc) from exc
        return _checked(key, data)

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:  # noqa: BLE001
            if self._is_missing(exc):
                return False
            raise self._error(exc) from exc
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except Exception as exc:  # noqa: BLE001
            if not self._is_missing(exc):
                raise self._error(exc) from exc

    def keys(self):
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start,
                PaginationConfig={"PageSize": self.list_page_size})
            for page in pages:
                for item in page.get("Contents", ()):
                    name = item["Key"][len(start):]
                    if is_key(name):
                        yield name
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from exc


def storage_from_url(url: str | None, instance_path: str | os.PathLike, **s3_settings) -> Storage:
    """The backend a ``CRM_STORAGE_URL`` names.

    ``file://`` (default: ``instance/attachments``), ``file:///abs/path`` (a relative path is
    taken under the instance folder); ``s3://BUCKET/PREFIX`` with ``s3_settings`` ``endpoint_url``,
    ``access_key``, ``secret_key``, ``region`` (and ``?addressing_style=path|virtual``).
    """
    if not url or url == "file://":
        return LocalStorage(Path(instance_path) / "attachments")
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        return LocalStorage(path if path.is_absolute() else Path(instance_path) / path)
    if url.startswith("s3://"):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        style = (query.get("addressing_style") or [None])[0]
        if style not in (None, "path", "virtual", "auto"):
            raise ValueError(f"unsupported addressing_style in CRM_STORAGE_URL: {style}")
        allowed = {"endpoint_url", "access_key", "secret_key", "region"}
        unknown = set(s3_settings) - allowed
        if unknown:
            raise TypeError(f"unknown S3 settings: {', '.join(sorted(unknown))}")
        return S3Storage(parts.netloc, parts.path, addressing_style=style, **s3_settings)
    raise ValueError(f"unsupported CRM_STORAGE_URL: {url}")


def storage_from_config(config, instance_path) -> Storage:
    """The backend the app's settings (CRM_STORAGE_URL, CRM_S3_*) name."""
    return storage_from_url(
        config.get("CRM_STORAGE_URL"), instance_path,
        **({
            "endpoint_url": config.get("CRM_S3_ENDPOINT_URL"),
            "access_key": config.get("CRM_S3_ACCESS_KEY"),
            "secret_key": config.get("CRM_S3_SECRET_KEY"),
            "region": config.get("CRM_S3_REGION"),
        } if str(config.get("CRM_STORAGE_URL") or "").startswith("s3://") else {}),
    )


def get_storage() -> Storage:
    """The app's storage, built once per app from its settings."""
    from flask import current_app

    storage = current_app.extensions.get("crm_storage")
    if storage is None:
        storage = storage_from_config(current_app.config, current_app.instance_path)
        current_app.extensions["crm_storage"] = storage
    return storage
