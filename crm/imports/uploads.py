"""Uploaded files waiting for confirmation: stored per user, capped, deleted when stale.

A file is named ``<user id>-<random>.<ext>`` in ``instance/uploads/``: the user's pending uploads
are found by name, without a table. A user keeps at most CRM_UPLOAD_MAX_PENDING of them (a new
upload drops the oldest: the preview a user just asked for always works), and the scheduled job
deletes any older than CRM_UPLOAD_RETENTION_HOURS.
"""

import logging
import secrets
import time
from pathlib import Path

from flask import current_app

from crm.files import delete_older_than

log = logging.getLogger(__name__)

RETENTION_HOURS = 24
MAX_PENDING = 5


def folder() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pending(user_id: int) -> list[Path]:
    """The user's pending uploads, oldest first."""
    files = [p for p in folder().glob(f"{int(user_id)}-*") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime)


def store(user_id: int, data: bytes, suffix: str) -> Path:
    """Keep ``data`` for the user, dropping their oldest pending uploads beyond the cap."""
    cap = max(1, int(current_app.config.get("CRM_UPLOAD_MAX_PENDING", MAX_PENDING)))
    for old in pending(user_id)[: max(0, len(pending(user_id)) - cap + 1)]:
        old.unlink(missing_ok=True)
    path = folder() / f"{int(user_id)}-{secrets.token_urlsafe(16)}{suffix}"
    path.write_bytes(data)
    return path


def prune(now: float | None = None) -> int:
    """Delete pending uploads older than the retention; returns how many were deleted."""
    hours = float(current_app.config.get("CRM_UPLOAD_RETENTION_HOURS", RETENTION_HOURS))
    cutoff = (time.time() if now is None else now) - hours * 3600
    deleted = delete_older_than(folder().iterdir(), cutoff)
    if deleted:
        log.info("imports: deleted %d stale uploads", deleted)
    return deleted
