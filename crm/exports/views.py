"""Downloads: the filtered lead list and visits as .xlsx, and (admins) a fresh backup."""

import datetime as dt
import os
import tempfile
from pathlib import Path

from flask import Blueprint, abort, current_app, request, send_file
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import require
from crm.backup import BackupError, backup
from crm.clock import local_time, today, utcnow
from crm.downloads import send_download
from crm.exports.xlsx import write_leads_xlsx, write_visits_xlsx
from crm.leads.views import parse_filter

blueprint = Blueprint("exports", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _send_spooled(write, mimetype, name, ascii_name):
    """Write to an anonymous temporary file (large exports stay off the heap) and send it."""
    stream = tempfile.TemporaryFile()
    try:
        write(stream)
        stream.seek(0)
    except BaseException:
        stream.close()
        raise
    return send_download(stream, mimetype=mimetype, name=name, ascii_name=ascii_name)


@blueprint.route("/exports/leads.xlsx")
@login_required
def leads():
    flt = parse_filter(request.args)
    as_of = today()
    return _send_spooled(lambda s: write_leads_xlsx(current_user, flt, as_of, s), XLSX_MIMETYPE,
                         f"项目导出-{as_of.isoformat()}.xlsx", f"leads-{as_of.isoformat()}.xlsx")


def _date_arg(name) -> dt.date | None:
    try:
        return inputs.date_arg(request.args, name)
    except inputs.Invalid:
        abort(400)


@blueprint.route("/exports/visits.xlsx")
@login_required
def visits():
    township_id = inputs.int_arg(request.args, "township_id")
    start, end = _date_arg("from"), _date_arg("to")
    return _send_spooled(
        lambda s: write_visits_xlsx(current_user, township_id, start, end, s), XLSX_MIMETYPE,
        f"走访记录导出-{today().isoformat()}.xlsx", f"visits-{today().isoformat()}.xlsx",
    )


@blueprint.route("/admin/backup")
@login_required
def admin_backup():
    require(current_user, "users.manage")
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    suffix = ".sqlite3" if url.startswith("sqlite") else ".dump"
    with tempfile.TemporaryDirectory(prefix="crm-backup-") as tmp:
        path = Path(tmp) / f"backup{suffix}"
        try:
            backup(url, path)
        except BackupError as exc:
            current_app.logger.error("backup failed: %s", exc)
            abort(500)
        stream = open(path, "rb")  # noqa: SIM115  (closed by the response)
        os.unlink(path)  # POSIX: the open handle keeps the data until sent
    stamp = local_time(utcnow()).strftime("%Y%m%d-%H%M%S")
    current_app.logger.info("backup downloaded by %s", current_user.username)
    return send_file(stream, mimetype="application/octet-stream", as_attachment=True,
                     max_age=0, download_name=f"crm-backup-{stamp}{suffix}")
