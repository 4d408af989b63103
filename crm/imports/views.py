"""Import pages: the template, upload → preview of every row → confirm (all or nothing)."""

import io
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeSerializer

from crm import inputs
from crm.auth.permissions import can, require, visible_townships
from crm.downloads import send_download
from crm.extensions import db
from crm.imports import jobs, uploads
from crm.imports.mapping import OFFICER_FIELD
from crm.imports.reader import EXTENSIONS, ImportRefused, limits, read_table
from crm.imports.service import preview
from crm.imports.template import write_template
from crm.leads.pipeline import STAGE_LABELS
from crm.unit_of_work import discard, end_transaction

blueprint = Blueprint("imports", __name__, url_prefix="/imports")

def _require_importer() -> None:
    require(current_user, "imports.use")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="crm.imports.upload")


def _token(stored: str, filename: str, unit_id: int | None) -> str:
    return _serializer().dumps({"f": stored, "n": filename, "u": current_user.id, "t": unit_id})


def _file_units() -> list:
    """The units a user who may import into several may choose as the whole file's (整个文件
    属于); [] for a user whose file is his own unit's."""
    if not can(current_user, "lead.any_unit"):
        return []
    return [t for t in db.session.scalars(visible_townships(current_user))
            if can(current_user, "lead.create", t.id)]


def _file_unit(units: list) -> int | None:
    """The whole file's unit chosen on the upload form (None: each row names its unit)."""
    chosen = inputs.int_arg(request.form, "township_id")
    return chosen if chosen in {t.id for t in units} else None


def _from_token(token: str) -> tuple[Path, str, int | None]:
    try:
        payload = _serializer().loads(token or "")
    except BadSignature:
        abort(400)
    if payload.get("u") != current_user.id:
        abort(403)
    stored = uploads.folder() / Path(payload["f"]).name
    if not stored.exists():
        flash(_("上传的文件已失效，请重新上传"), "error")
        abort(redirect(url_for("imports.leads")))
    return stored, payload["n"], payload.get("t")


@blueprint.get("/template.xlsx")
@login_required
def template():
    """The import's Chinese headers and one sample row (which the importer skips)."""
    _require_importer()
    example = {
        "name": "宠物食品生产基地", "company": "烟台中宠食品股份有限公司", "origin": "烟台",
        "industry": "健康食品", "source": "以企招商", "investment_wan": "1.5亿",
        "township": current_user.township.name if current_user.township else "孟庄镇",
        OFFICER_FIELD: current_user.display_name
        if can(current_user, "lead.assigned_to_me") else "",
        "stage": "洽谈", "planned_sign_date": "2026-06-30",
    }
    buffer = io.BytesIO()
    write_template(example, buffer)
    buffer.seek(0)
    return send_download(
        buffer, name="项目导入模板.xlsx", ascii_name="lead-import-template.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@blueprint.route("/leads", methods=["GET", "POST"])
@login_required
def leads():
    """Upload a file; answer with the preview of every row (nothing written yet)."""
    _require_importer()
    max_bytes, max_rows = limits()
    units = _file_units()
    context = {"max_mb": f"{max_bytes / 1048576:g}", "max_rows": max_rows, "units": units,
               "unit_id": _file_unit(units) if request.method == "POST" else None}
    if request.method == "GET":
        return render_template("imports/upload.html", **context)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要导入的文件"), "error")
        return render_template("imports/upload.html", **context), 400
    filename = Path(upload.filename.replace("\\", "/")).name[:200]
    suffix = Path(filename).suffix.lower()
    data = upload.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        flash(_("文件过大，上限为 %(max)s MB", max=context["max_mb"]), "error")
        return render_template("imports/upload.html", **context), 400
    user_id = current_user.id
    stored = uploads.store(user_id, data, suffix if suffix in EXTENSIONS else ".bin")
    table = _read_outside_transaction(stored, filename)
    if table is None:
        return render_template("imports/upload.html", **context), 400
    unit_id = context["unit_id"]
    results = preview(current_user, table, unit_id, release=True)
    file_unit = next((t.name for t in units if t.id == unit_id), "")
    discard()  # a preview writes nothing
    return render_template(
        "imports/preview.html", table=table, results=results, filename=filename,
        token=_token(stored.name, filename, unit_id), bad=[r for r in results if r.errors],
        stage_labels=STAGE_LABELS, file_unit=file_unit,
    )


def _read_outside_transaction(stored: Path, filename: str):
    """The file's table, read with no database transaction open; None (file deleted, message
    flashed) when it is refused.

    A POST's transaction holds SQLite's write lock from its first query (the user's sign-in):
    reading a large file inside it would make every other writer wait.
    """
    end_transaction()
    try:
        return read_table(stored, filename)
    except ImportRefused as exc:
        stored.unlink(missing_ok=True)
        flash(str(exc.message), "error")
        return None
    except BaseException:
        stored.unlink(missing_ok=True)
        raise


@blueprint.post("/leads/confirm")
@login_required
def confirm():
    """Re-read the uploaded file, check it again and import every row, or none."""
    _require_importer()
    stored, filename, unit_id = _from_token(request.form.get("token", ""))
    table = _read_outside_transaction(stored, filename)
    if table is None:
        return redirect(url_for("imports.leads"))
    units = _file_units()
    unit_id = unit_id if unit_id in {t.id for t in units} else None
    results = preview(current_user, table, unit_id, release=True)
    bad = [r for r in results if r.errors]
    if bad:
        discard()
        flash(_("有%(n)s行存在错误，未导入任何项目", n=len(bad)), "error")
        return render_template(
            "imports/preview.html", table=table, results=results, filename=filename,
            token=request.form.get("token", ""), bad=bad, stage_labels=STAGE_LABELS,
            file_unit=next((t.name for t in units if t.id == unit_id), ""),
        ), 422
    user_id = current_user.id
    discard()  # the check wrote nothing; the job writes in a transaction of its own
    background = current_app.config.get("CRM_IMPORT_BACKGROUND", not current_app.testing)
    job_id = jobs.start(user_id, results, filename, stored, request.remote_addr or "",
                        background=background)
    return redirect(url_for("imports.job", job_id=job_id))


def _job_or_404(job_id: str) -> dict:
    _require_importer()
    job = jobs.read(job_id)
    require(current_user, "imports.job", job, status=404)
    return job


@blueprint.get("/jobs/<job_id>")
@login_required
def job(job_id):
    """The import's progress: a bar, refreshed (the page itself without JavaScript, its JSON
    with it) until the job is done or failed."""
    return render_template("imports/job.html", job=_job_or_404(job_id))


@blueprint.get("/jobs/<job_id>/progress.json")
@login_required
def job_progress(job_id):
    job = _job_or_404(job_id)
    return jsonify({k: job[k] for k in ("state", "total", "done", "created", "message")})
