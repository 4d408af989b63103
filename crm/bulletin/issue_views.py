"""Published bulletins (通报 第N期): the list, publishing, an issue as a page, .xlsx and .docx."""

import io
from functools import partial

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import require
from crm.bulletin import issues
from crm.bulletin.issue_files import (
    issue_docx,
    issue_title,
    issue_xlsx,
    metric_label,
    number_line,
)
from crm.bulletin.models import BulletinIssue
from crm.clock import today
from crm.downloads import send_download
from crm.errors import DomainError
from crm.leads.colour import COLOUR_LABELS
from crm.paging import Page, page_of_list
from crm.supervision.models import LEVEL_LABELS, STATUS_LABELS
from crm.unit_of_work import discard
from crm.word import DOCX_MIMETYPE

blueprint = Blueprint("bulletins", __name__)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blueprint.context_processor
def helpers():
    return {"metric_label": metric_label, "issue_title": issue_title, "number_line": number_line,
            "COLOUR_LABELS": COLOUR_LABELS, "LEVEL_LABELS": LEVEL_LABELS,
            "STATUS_LABELS": STATUS_LABELS}


#: Rows of each of the issue page's lists per page (a province's issue lists 40,000 projects).
PER_PAGE = 50
#: The page's lists: the content's key, and its page's query argument.
SECTIONS = ("townships", "red", "yellow", "orders")


def _issue(issue_id: int) -> BulletinIssue:
    require(current_user, "bulletins.view")
    issue = issues.get_issue(issue_id)
    if issue is None:
        abort(404)
    return issue


def _section(items: list, name: str) -> Page:
    return page_of_list(items, request.args.get(f"{name}_page", 1, type=int) or 1, PER_PAGE)


@blueprint.route("/bulletins/", methods=["GET", "POST"])
@login_required
def index():
    require(current_user, "bulletins.view")
    error = None
    as_of_text = today().isoformat()
    if request.method == "POST":
        require(current_user, "bulletins.publish")
        as_of_text = request.form.get("as_of", "")
        try:
            issue = issues.publish(current_user, inputs.to_date(as_of_text))
        except inputs.Invalid as exc:
            error = str(exc.message)
        except DomainError as exc:
            discard()
            error = str(exc.message)
        else:
            flash(_("已发布通报 %(n)s", n=issue.title_number), "success")
            return redirect(url_for("bulletins.show", issue_id=issue.id))
    return render_template("bulletins/index.html", issues=issues.list_issues(), error=error,
                           as_of=as_of_text), 422 if error else 200


@blueprint.route("/bulletins/<int:issue_id>")
@login_required
def show(issue_id: int):
    issue = _issue(issue_id)
    content = issues.content_of(issue)
    return render_template("bulletins/show.html", issue=issue, c=content,
                           paged={name: _section(content[name], name) for name in SECTIONS})


def document(issue_id: int, kind: str):
    """The issue as a workbook or a Word document."""
    issue = _issue(issue_id)
    make, mimetype = {"xlsx": (issue_xlsx, XLSX_MIMETYPE), "docx": (issue_docx, DOCX_MIMETYPE)}[kind]
    return send_download(io.BytesIO(make(issue)), mimetype=mimetype,
                         name=_("通报%(y)s年第%(n)s期", y=issue.year, n=issue.number) + f".{kind}",
                         ascii_name=f"bulletin-{issue.year}-{issue.number}.{kind}")


for _kind in ("xlsx", "docx"):  # endpoints bulletins.xlsx, bulletins.docx
    blueprint.add_url_rule(f"/bulletins/<int:issue_id>.{_kind}", _kind,
                           login_required(partial(document, kind=_kind)))
