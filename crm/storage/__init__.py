"""Evidence files: one small interface, a local backend and an S3-compatible one (CRM_STORAGE_URL).

Files are content-addressed: the key is the SHA-256 of the bytes, so storing the same file twice
keeps one copy and a key never changes meaning.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class Storage(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; return its key (the SHA-256 in hex). Idempotent."""

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; FileNotFoundError when absent."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def keys(self):
        """Every stored key (for backups and checks)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError("not a storage key")
    return key


class LocalStorage:
    """Files under ``root``/ab/cdef… written atomically (temp file, fsync, rename)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self):
        if not self.root.exists():
            return
        for path in sorted(self.root.glob("??/*")):
            if not path.name.startswith("."):
                yield path.name


def storage_from_url(url: str | None, instance_path: str | os.PathLike, **s3_settings) -> Storage:
    """``file://`` (default, under instance/attachments) or ``file:///abs/path``; ``s3://BUCKET/PREFIX``."""
    if not url or url == "file://":
        return LocalStorage(Path(instance_path) / "attachments")
    if url.startswith("file://"):
        return LocalStorage(url[len("file://"):])
    raise ValueError(f"unsupported CRM_STORAGE_URL: {url}")  # s3:// comes with the S3 backend


def get_storage() -> Storage:
    """The app's storage, built once per app from its settings."""
    from flask import current_app

    storage = current_app.extensions.get("crm_storage")
    if storage is None:
        config = current_app.config
        storage = storage_from_url(config.get("CRM_STORAGE_URL"), current_app.instance_path)
        current_app.extensions["crm_storage"] = storage
    return storage
