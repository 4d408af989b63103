"""Admin pages: the group robots (add, edit, test, delete) and their message log (retry)."""

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from crm import inputs
from crm.audit.services import record
from crm.auth.permissions import require
from crm.channels import dispatch, services, vendors
from crm.channels.forms import ActionForm, ChannelForm, RetryForm
from crm.channels.models import (
    KIND_LABELS,
    MESSAGE_KIND_LABELS,
    MESSAGE_KINDS,
    Channel,
    ChannelDispatch,
)
from crm.errors import DomainError
from crm.extensions import db
from crm.main import retries
from crm.main.forms import form_errors
from crm.paging import keep_in_range
from crm.townships.models import Township
from crm.unit_of_work import end_transaction

blueprint = Blueprint("channels", __name__, url_prefix="/admin/channels")

PER_PAGE = 50
STATUS_LABELS = {"failed": _l("发送失败"), "pending": _l("待发送"), "sent": _l("已发送")}
_failed = ChannelDispatch.failed()


def _units() -> list[Township]:
    return list(db.session.scalars(sa.select(Township).order_by(Township.id)))


def _unit(township_id: int | None) -> Township | None:
    return db.session.get(Township, township_id) if township_id else None


@blueprint.route("/")
@login_required
def index():
    require(current_user, "channels.manage")
    channels = db.session.scalars(sa.select(Channel).options(joinedload(Channel.township))
                                  .order_by(Channel.township_id.is_not(None), Channel.township_id,
                                            Channel.id)).all()
    counts = dict(db.session.execute(
        sa.select(ChannelDispatch.channel_id, sa.func.count(ChannelDispatch.id)).where(_failed)
        .group_by(ChannelDispatch.channel_id)).all())
    return render_template("channels/index.html", channels=channels, failed=counts,
                           action=ActionForm(), KIND_LABELS=KIND_LABELS)


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def create():
    require(current_user, "channels.manage")
    form = ChannelForm()
    form.set_units(_units())
    if form.validate_on_submit():
        try:
            channel = services.add_channel(
                current_user, name=form.name.data, kind=form.kind.data, url=form.url.data or "",
                township=_unit(form.township_id.data), secret=form.secret.data or "",
                keyword=form.keyword.data or "", enabled=form.enabled.data)
        except DomainError as exc:
            form_errors(form, exc, default="name")
        else:
            flash(_("群机器人“%(n)s”已添加", n=channel.name), "success")
            return redirect(url_for("channels.index"))
    return render_template("channels/form.html", form=form, channel=None)


@blueprint.route("/<int:channel_id>/edit", methods=["GET", "POST"])
@login_required
def edit(channel_id):
    require(current_user, "channels.manage")
    channel = db.get_or_404(Channel, channel_id)
    form = ChannelForm(obj=channel, township_id=channel.township_id or 0, url="")
    form.set_units(_units())
    if request.method == "GET":
        form.url.data = ""
    form.kind.data = channel.kind  # the kind is chosen once
    if form.validate_on_submit():
        try:
            changes = services.update_channel(
                current_user, channel, name=form.name.data, township=_unit(form.township_id.data),
                url=form.url.data or "", secret=form.secret.data or "",
                keyword=form.keyword.data or "", clear_secret=form.clear_secret.data,
                enabled=form.enabled.data)
        except DomainError as exc:
            form_errors(form, exc, default="name")
        else:
            flash(_("已保存") if changes else _("没有改动"), "success" if changes else "info")
            return redirect(url_for("channels.index"))
    return render_template("channels/form.html", form=form, channel=channel)


@blueprint.route("/<int:channel_id>/test", methods=["POST"])
@login_required
def test(channel_id):
    require(current_user, "channels.manage")
    channel = db.get_or_404(Channel, channel_id)
    back = redirect(url_for("channels.index"))
    if not ActionForm().validate_on_submit():
        flash(_("请求有误，请刷新页面后重试"), "error")
        return back
    target = services.test_target(channel)
    end_transaction()  # no lock held while the robot answers
    try:
        answer = services.send_test(target)
    except vendors.DeliveryError as exc:
        flash(_("测试消息发送失败：%(e)s", e=str(exc)), "error")
    else:
        flash(_("测试消息已发送（机器人答复：%(a)s）", a=answer.strip()[:200]), "success")
    record(current_user, "channel.test", db.session.get(Channel, channel_id))
    return back


@blueprint.route("/<int:channel_id>/delete", methods=["POST"])
@login_required
def delete(channel_id):
    require(current_user, "channels.manage")
    channel = db.get_or_404(Channel, channel_id)
    if not ActionForm().validate_on_submit():
        flash(_("请求有误，请刷新页面后重试"), "error")
    else:
        name = channel.name
        services.delete_channel(current_user, channel)
        flash(_("群机器人“%(n)s”已删除", n=name), "success")
    return redirect(url_for("channels.index"))


# --- the message log -----------------------------------------------------------------------------

def _filters(args) -> dict:
    found = {}
    if args.get("status") in STATUS_LABELS:
        found["status"] = args["status"]
    if args.get("kind") in MESSAGE_KINDS:
        found["kind"] = args["kind"]
    return found


@blueprint.route("/messages")
@login_required
def messages():
    require(current_user, "channels.manage")
    flt = _filters(request.args)
    stmt = sa.select(ChannelDispatch).options(
        joinedload(ChannelDispatch.channel).joinedload(Channel.township))
    if flt.get("status") == "failed":
        stmt = stmt.where(_failed)
    elif flt.get("status") == "pending":
        stmt = stmt.where(ChannelDispatch.status == "pending", ChannelDispatch.last_error == "")
    elif "status" in flt:
        stmt = stmt.where(ChannelDispatch.status == flt["status"])
    if "kind" in flt:
        stmt = stmt.where(ChannelDispatch.kind == flt["kind"])
    stmt = stmt.order_by(sa.case((_failed, 0), (ChannelDispatch.status == "pending", 1), else_=2),
                         ChannelDispatch.created_at.desc(), ChannelDispatch.id.desc())
    rows = db.paginate(stmt, page=inputs.page_arg(request.args), per_page=PER_PAGE, error_out=False)
    failed_count = db.session.scalar(sa.select(sa.func.count(ChannelDispatch.id)).where(_failed))
    pending_count = db.session.scalar(sa.select(sa.func.count(ChannelDispatch.id)).where(
        ChannelDispatch.status == "pending"))
    keep_in_range(rows)
    return render_template("channels/messages.html", rows=rows, flt=flt, failed_count=failed_count,
                           pending_count=pending_count, KINDS=MESSAGE_KINDS,
                           KIND_LABELS=MESSAGE_KIND_LABELS, STATUS_LABELS=STATUS_LABELS)


@blueprint.route("/messages/retry", methods=["POST"])
@login_required
def retry():
    return retries.retry_page(
        RetryForm(), ChannelDispatch, dispatch.retry_now_and_commit, permission="channels.manage",
        action="channels.retry", back=url_for("channels.messages", **_filters(request.args)),
        nothing=_("没有可重试的消息（可能已发送，或正在发送中）"),
        done=_("重试完成：已发送 %(sent)s 条"),
        partly=_("重试完成：已发送 %(sent)s 条，失败 %(failed)s 条，等待限流 %(waiting)s 条。%(error)s"))
