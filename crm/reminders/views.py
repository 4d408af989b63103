"""Reminder pages: a user's preferences and sent reminders, one-click unsubscribe, the admin log."""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from crm import inputs
from crm.account.services import set_mobile
from crm.audit.services import record
from crm.auth.models import User
from crm.auth.permissions import require
from crm.errors import DomainError
from crm.extensions import csrf, db
from crm.main import retries
from crm.main.forms import form_errors
from crm.moveback.models import MoveBackRequest
from crm.paging import keep_in_range
from crm.reminders import dispatch, mail
from crm.reminders.forms import PreferencesForm, RetryForm, UnsubscribeForm
from crm.reminders.models import KINDS, ReminderDispatch

blueprint = Blueprint("reminders", __name__, url_prefix="/reminders")

PER_PAGE = 50
KIND_LABELS = {"daily": _l("每日跟进提醒"), "weekly": _l("每周提醒"), "review": _l("待核验提醒"),
               "dispute": _l("撞单裁定通知"),
               "supervision": _l("约谈督办通知"), "move_back": _l("退回申请通知")}
STATUS_LABELS = {"failed": _l("发送失败"), "pending": _l("待发送"), "sent": _l("已发送"),
                 "skipped": _l("已跳过")}

_failed = ReminderDispatch.failed()


def _labels() -> dict:
    return {"KIND_LABELS": KIND_LABELS, "STATUS_LABELS": STATUS_LABELS, "opens": opens}


def opens(row: ReminderDispatch, move_back_leads: dict[int, int] | None = None) -> str:
    """Where an entry of 我的提醒 opens: what the reminder was about (the dispute, the
    supervision order, the claims to review, the lead of a 申请退回 (``move_back_leads``: its
    request's lead, by request id); a follow-up digest: 我的工作, which lists the leads due)."""
    number = row.period[1:]
    if (request_id := _request_id(row)) in (move_back_leads or {}):
        return url_for("leads.show", lead_id=move_back_leads[request_id]) + "#move-back"
    if row.kind == "dispute" and number.isdigit():
        return url_for("companies.dispute", dispute_id=int(number))
    if row.kind == "supervision" and number.isdigit():
        return url_for("supervision.show", order_id=int(number))
    if row.kind == "review":
        return url_for("claims.queue")
    return url_for("board.my_work")


def _page() -> int:
    return inputs.page_arg(request.args)


@blueprint.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    form = PreferencesForm(obj=current_user)
    if form.validate_on_submit():
        try:
            set_mobile(current_user, current_user, form.mobile.data)
        except DomainError as exc:
            form_errors(form, exc, default="mobile")
        else:
            current_user.reminder_daily = form.reminder_daily.data
            current_user.reminder_weekly = form.reminder_weekly.data
            flash(_("已保存"), "success")
            return redirect(url_for("reminders.preferences"))
    return render_template("reminders/preferences.html", form=form)


@blueprint.route("/")
@login_required
def index():
    rows = db.paginate(
        sa.select(ReminderDispatch).where(ReminderDispatch.user_id == current_user.id)
        .order_by(ReminderDispatch.created_at.desc(), ReminderDispatch.id.desc()),
        page=_page(), per_page=PER_PAGE, error_out=False,
    )
    keep_in_range(rows)
    leads = _move_back_leads(rows.items)
    return render_template("reminders/list.html", rows=rows,
                           **{**_labels(), "opens": lambda row: opens(row, leads)})


def _request_id(row: ReminderDispatch) -> int | None:
    """The 申请退回 a ``move_back`` reminder is about (period ``B<id>``, or ``B<id>-d`` for its
    decision), else None."""
    number = row.period[1:].removesuffix("-d")
    return int(number) if row.kind == "move_back" and number.isdigit() else None


def _move_back_leads(rows) -> dict[int, int]:
    """{request id: lead id} of the 申请退回 the page's reminders are about, in one query (made
    also when there is none: a page's number of queries does not depend on its rows)."""
    ids = {request_id for row in rows if (request_id := _request_id(row)) is not None}
    return dict(db.session.execute(sa.select(MoveBackRequest.id, MoveBackRequest.lead_id)
                                   .where(MoveBackRequest.id.in_(ids))).all())


# --- unsubscribe: the link in every reminder, no sign-in ---------------------------------------

def _token_user(token: str) -> tuple[User, str]:
    """The user and kind a token names; 404 when it was tampered with or the user is gone."""
    read = mail.read_unsubscribe_token(token)
    user = db.session.get(User, read[0]) if read else None
    if user is None:
        abort(404)
    if not current_user.is_authenticated and session.get("lang") is None:
        g.locale = user.locale  # the reader's language, as in the mail they came from
        refresh()
    return user, read[1]


def _unsubscribe(user: User, field: str) -> None:
    if getattr(user, field):
        setattr(user, field, False)
        record(user, "reminders.unsubscribe", user, changes={field: [True, False]})


#: RFC 8058: a mail client's unsubscribe button POSTs this body to the List-Unsubscribe link.
ONE_CLICK = ("List-Unsubscribe", "One-Click")


# CSRF is exempt here only: the mail client's one-click POST (RFC 8058) has no session, and the
# signed token in the URL is what authorises the change. The confirmation form in the page still
# carries its CSRF token (checked by the form itself).
@csrf.exempt
@blueprint.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token):
    user, kind = _token_user(token)
    field = f"reminder_{kind}"
    if request.method == "POST" and request.form.get(ONE_CLICK[0]) == ONE_CLICK[1]:
        _unsubscribe(user, field)  # answered 200 at once: RFC 8058 forbids a redirect
        return render_template("reminders/unsubscribe.html", form=None, user=user, kind=kind,
                               done=True, **_labels())
    form = UnsubscribeForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)  # the CSRF token is missing or stale: answered as every other form
        _unsubscribe(user, field)
        return render_template("reminders/unsubscribe.html", form=form, user=user, kind=kind,
                               done=True, **_labels())
    return render_template("reminders/unsubscribe.html", form=form, user=user, kind=kind,
                           done=not getattr(user, field), **_labels())


# --- the admin log -----------------------------------------------------------------------------

def _filters(args) -> dict:
    """The admin log's filters from a query string, unknown values dropped."""
    return inputs.filter_args(args, choices={"status": STATUS_LABELS, "kind": KINDS})


@blueprint.route("/admin")
@login_required
def admin():
    require(current_user, "reminders.admin")
    flt = _filters(request.args)
    stmt = sa.select(ReminderDispatch).options(joinedload(ReminderDispatch.user))
    if flt.get("status") == "failed":
        stmt = stmt.where(_failed)
    elif "status" in flt:
        stmt = stmt.where(ReminderDispatch.status == flt["status"])
    if "kind" in flt:
        stmt = stmt.where(ReminderDispatch.kind == flt["kind"])
    stmt = stmt.order_by(sa.case((_failed, 0), else_=1), ReminderDispatch.created_at.desc(),
                         ReminderDispatch.id.desc())
    rows = db.paginate(stmt, page=_page(), per_page=PER_PAGE, error_out=False)
    failed_count = db.session.scalar(sa.select(sa.func.count(ReminderDispatch.id)).where(_failed))
    keep_in_range(rows)
    return render_template("reminders/admin.html", rows=rows, flt=flt, failed_count=failed_count,
                           KINDS=KINDS, **_labels())


@blueprint.route("/admin/retry", methods=["POST"])
@login_required
def retry():
    return retries.retry_page(
        RetryForm(), ReminderDispatch, dispatch.retry_now_and_commit, permission="reminders.admin",
        action="reminders.retry", back=url_for("reminders.admin", **_filters(request.args)),
        nothing=_("没有可重试的提醒（可能已发送，或正在发送中）"),
        done=_("重试完成：已发送 %(sent)s 封"),
        partly=_("重试完成：已发送 %(sent)s 封，失败 %(failed)s 封。%(error)s"))
