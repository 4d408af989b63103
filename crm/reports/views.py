"""The monthly report (月报) as a page, an .xlsx and a .docx."""

import io

from flask import Blueprint, abort, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.auth.permissions import require
from crm.reports.monthly import monthly_report, parse_month, report_docx, report_xlsx, tables
from crm.word import DOCX_MIMETYPE

blueprint = Blueprint("reports", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report():
    require(current_user, "reports.monthly")
    try:
        year, month = parse_month(request.args.get("month"))
    except ValueError:
        abort(400)
    return monthly_report(current_user, year, month)


@blueprint.route("/reports/monthly")
@login_required
def monthly():
    report = _report()
    return render_template("reports/monthly.html", report=report, tables=tables(report))


@blueprint.route("/reports/monthly.xlsx")
@login_required
def monthly_xlsx():
    report = _report()
    return send_file(io.BytesIO(report_xlsx(report)), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     max_age=0, download_name=_("月报-%(m)s.xlsx", m=report.label))


@blueprint.route("/reports/monthly.docx")
@login_required
def monthly_docx():
    report = _report()
    return send_file(io.BytesIO(report_docx(report)), mimetype=DOCX_MIMETYPE, as_attachment=True,
                     max_age=0, download_name=_("月报-%(m)s.docx", m=report.label))
