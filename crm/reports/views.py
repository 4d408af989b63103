"""The monthly report (月报) as a page, an .xlsx and a .docx."""

import io
from functools import partial

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import require
from crm.clock import today
from crm.downloads import send_download
from crm.reports.monthly import monthly_report, parse_month, report_docx, report_xlsx, tables
from crm.word import DOCX_MIMETYPE

blueprint = Blueprint("reports", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report():
    """The month of a download: 400 when malformed (a file is named after its month)."""
    require(current_user, "reports.monthly")
    try:
        year, month = parse_month(request.args.get("month"))
    except ValueError:
        abort(400)
    return monthly_report(current_user, year, month)


@blueprint.route("/reports/monthly")
@login_required
def monthly():
    require(current_user, "reports.monthly")
    now = today()
    year, month = inputs.month_or_default(request.args, "month", (now.year, now.month))
    report = monthly_report(current_user, year, month)
    return render_template("reports/monthly.html", report=report, tables=tables(report))


def monthly_document(kind: str):
    """The month's report as a workbook or a Word document."""
    report = _report()
    make, mimetype = {"xlsx": (report_xlsx, XLSX_MIMETYPE), "docx": (report_docx, DOCX_MIMETYPE)}[kind]
    return send_download(io.BytesIO(make(report)), mimetype=mimetype,
                         name=_("月报-%(m)s", m=report.label) + f".{kind}",
                         ascii_name=f"monthly-report-{report.year}-{report.month:02d}.{kind}")


for _kind in ("xlsx", "docx"):  # endpoints reports.monthly_xlsx, reports.monthly_docx
    blueprint.add_url_rule(f"/reports/monthly.{_kind}", f"monthly_{_kind}",
                           login_required(partial(monthly_document, kind=_kind)))
