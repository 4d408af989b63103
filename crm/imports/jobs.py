"""An import confirmed on the page runs as a background job; its progress is a small JSON file.

The confirm request checks every row (``preview``) and answers at once with the job's page; a
thread of the web process writes the rows (``bulk_import_rows``, one transaction) and records its
progress after each chunk in ``instance/import-jobs/<job id>.json``, where any worker of the
instance can read it (the page's JSON endpoint and its refresh). A file rather than a table: on
SQLite the import's transaction holds the write lock until it commits, so a progress row could
not be updated meanwhile. A job's file is kept for a day (``prune``).

State: ``running`` (``done`` of ``total`` rows written), then ``done`` (``created`` leads) or
``failed`` (``message``; nothing was imported).
"""

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from crm.errors import DomainError
from crm.extensions import db
from crm.files import delete_older_than

log = logging.getLogger(__name__)

RETENTION_HOURS = 24


def folder() -> Path:
    path = Path(current_app.instance_path) / "import-jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path(job_id: str) -> Path | None:
    if not job_id or len(job_id) > 100 or not all(c.isalnum() or c in "-_" for c in job_id):
        return None
    return folder() / f"{job_id}.json"


def read(job_id: str) -> dict | None:
    """The job's state, or None when there is no such job."""
    path = _path(job_id)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _write(path: Path, state: dict) -> None:
    state = dict(state, updated_at=time.time())
    temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)  # a reader sees the old state or the new, never half of one


def prune(now: float | None = None) -> int:
    cutoff = (time.time() if now is None else now) - RETENTION_HOURS * 3600
    return delete_older_than(folder().glob("*.json"), cutoff)


def job_id_for(stored: Path) -> str:
    """An upload's job: named after the stored file (``<user id>-<random>``), so one upload is
    imported by one job, however often its confirmation is posted."""
    return stored.stem


def start(user_id: int, results, filename: str, stored: Path, remote_addr: str, *,
          background: bool = True) -> str:
    """Record a new job and run it (in a thread, or here when ``background`` is false); its id.
    A job of the same upload that is running or done is not started again (a double click):
    its id is returned; a failed one may be tried again."""
    prune()
    job_id = job_id_for(stored) if _path(stored.stem) else f"{int(user_id)}-{secrets.token_urlsafe(12)}"
    path = _path(job_id)
    earlier = read(job_id)
    if earlier is not None and earlier["state"] == "failed":
        path.unlink(missing_ok=True)
    state = {"id": job_id, "user_id": int(user_id), "filename": filename, "state": "running",
             "total": len(results), "done": 0, "created": 0, "message": "",
             "started_at": time.time()}
    try:
        with open(path, "x", encoding="utf-8") as fh:  # only one request starts it
            fh.write(json.dumps(dict(state, updated_at=time.time()), ensure_ascii=False))
    except FileExistsError:
        return job_id
    app = current_app._get_current_object()
    args = (app, path, state, results, stored, remote_addr)
    if background:
        threading.Thread(target=_run, args=args, name=f"import-{job_id}", daemon=True).start()
    else:
        _run(*args)
    return job_id


def _run(app, path: Path, state: dict, results, stored: Path, remote_addr: str) -> None:
    from crm.auth.models import User
    from crm.db_events import write_intent
    from crm.imports.bulk import bulk_import_rows

    token = write_intent.set(True)  # on SQLite the transaction begins IMMEDIATE
    try:
        with app.app_context():
            def progress(n: int) -> None:
                state["done"] += n
                _write(path, state)

            try:
                user = db.session.get(User, state["user_id"])
                count = bulk_import_rows(user, results, state["filename"], progress,
                                         remote_addr=remote_addr)
                db.session.commit()
                stored.unlink(missing_ok=True)
                state.update(state="done", created=count, done=state["total"])
            except DomainError as exc:
                db.session.rollback()
                state.update(state="failed", message=str(exc.message))
            except Exception:
                log.exception("import job %s failed", state["id"])
                db.session.rollback()
                state.update(state="failed", message=_("导入失败，未导入任何项目，请稍后重试"))
            finally:
                db.session.remove()
            _write(path, state)
    finally:
        write_intent.reset(token)
