"""Admin pages: users (list, create, edit, deactivate, reactivate, reset password) and tokens."""

import datetime as dt

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user
from sqlalchemy.orm import joinedload

from crm import inputs
from crm.account import services as token_services
from crm.account.views import no_store
from crm.admin import services
from crm.admin.forms import ConfirmForm, PasswordResetForm, UserCreateForm, UserEditForm
from crm.audit.models import AuditEntry
from crm.auth.models import ROLE_LABELS, ROLES, ApiToken, User
from crm.auth.permissions import require
from crm.auth.views import safe_next
from crm.clock import local_time, utcnow
from crm.errors import DomainError
from crm.extensions import db
from crm.main.forms import form_errors, unconfirmed
from crm.paging import keep_in_range
from crm.townships.models import Township
from crm.unit_of_work import discard

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 50
HISTORY_LIMIT = 200
ACTION_LABELS = {
    "user.create": _l("创建账号"), "user.edit": _l("修改资料"), "user.deactivate": _l("停用账号"),
    "user.reactivate": _l("重新启用"), "user.password_reset": _l("重置密码"),
    "token.create": _l("创建 API 令牌"), "token.revoke": _l("吊销 API 令牌"),
}
FIELD_LABELS = {
    "username": _l("用户名"), "display_name": _l("姓名"), "email": _l("邮箱"), "role": _l("角色"),
    "township": _l("所属单位"), "mobile": _l("手机号码"), "active": _l("状态"), "user": _l("用户"),
    "name": _l("令牌名称"),
    "expires_at": _l("到期时间"), "revoked_at": _l("吊销时间"),
}
ACTIVE_FILTERS = {"1": _l("在用"), "0": _l("已停用")}


def _page() -> int:
    return inputs.page_arg(request.args)


def _townships() -> list[Township]:
    return list(db.session.scalars(sa.select(Township).order_by(Township.id)))


def _township(township_id: int | None) -> Township | None:
    return db.session.get(Township, township_id) if township_id else None


# --- the list ----------------------------------------------------------------------------------

def _user_filters(args) -> dict:
    """The list's filters from a query string; unknown values dropped."""
    return inputs.filter_args(args, search="q", ids=("township_id",),
                              choices={"role": ROLES, "active": ACTIVE_FILTERS})


@blueprint.route("/users")
@login_required
def users():
    require(current_user, "users.manage")
    flt = _user_filters(request.args)
    stmt = sa.select(User)
    if "q" in flt:
        stmt = stmt.where(sa.or_(User.username.icontains(flt["q"], autoescape=True),
                                 User.display_name.icontains(flt["q"], autoescape=True),
                                 User.email.icontains(flt["q"], autoescape=True)))
    if "township_id" in flt:
        stmt = stmt.where(User.township_id == flt["township_id"])
    if "role" in flt:
        stmt = stmt.where(User.role == flt["role"])
    if "active" in flt:
        stmt = stmt.where(User.active.is_(flt["active"] == "1"))
    rows = db.paginate(stmt.order_by(User.active.desc(), User.username), page=_page(),
                       per_page=PER_PAGE, error_out=False)
    keep_in_range(rows)
    return render_template("admin/users.html", rows=rows, flt=flt, townships=_townships(),
                           ROLES=ROLES, ACTIVE_FILTERS=ACTIVE_FILTERS)


# --- one user ----------------------------------------------------------------------------------

def _display(name: str, value):
    """An audited value as a person reads it."""
    if value is None or value == "":
        return None
    if name == "role":
        return ROLE_LABELS.get(value, value)
    if name == "active":
        return _("在用") if value else _("已停用")
    if name in ("expires_at", "revoked_at") and isinstance(value, str):
        try:
            return local_time(dt.datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


def _history(user: User) -> list[dict]:
    """The audit entries about ``user`` and their tokens, newest first."""
    token_ids = sa.select(ApiToken.id).where(ApiToken.user_id == user.id)
    entries = db.session.scalars(
        sa.select(AuditEntry).options(joinedload(AuditEntry.user))
        .where(sa.or_(
            sa.and_(AuditEntry.object_type == "user", AuditEntry.object_id == user.id),
            sa.and_(AuditEntry.object_type == "apitoken", AuditEntry.object_id.in_(token_ids)),
        ))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(HISTORY_LIMIT)
    )
    return [{
        "entry": e,
        "label": ACTION_LABELS.get(e.action, e.action),
        "changes": [(FIELD_LABELS.get(k, k), _display(k, v[0]), _display(k, v[1]))
                    for k, v in (e.changes or {}).items() if k != "user"
                    and isinstance(v, list) and len(v) == 2],
    } for e in entries]


@blueprint.route("/users/<int:user_id>")
@login_required
def user_show(user_id):
    require(current_user, "users.manage")
    user = db.get_or_404(User, user_id)
    user_tokens = list(db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))
    return render_template("admin/user.html", user=user, history=_history(user), tokens=user_tokens,
                           confirm=ConfirmForm(), now=utcnow(), status=token_services.token_status,
                           STATUS_LABELS=token_services.STATUS_LABELS)


def _secret_page(user: User, password: str, title: str):
    return no_store(render_template("admin/secret.html", user=user, password=password, title=title))


@blueprint.route("/users/new", methods=["GET", "POST"])
@login_required
def user_create():
    require(current_user, "users.manage")
    form = UserCreateForm()
    form.set_units(_townships())
    if form.validate_on_submit():
        password = services.generate_password() if form.generate.data else form.password.data
        try:
            user = services.add_user(
                current_user, username=form.username.data, display_name=form.display_name.data,
                email=form.email.data, role=form.role.data,
                township=_township(form.township_id.data), password=password)
            token_services.set_mobile(current_user, user, form.mobile.data)
        except DomainError as exc:
            form_errors(form, exc, default="username")
        else:
            if form.generate.data:
                return _secret_page(user, password, _("账号已创建"))
            flash(_("账号“%(name)s”已创建", name=user.username), "success")
            return redirect(url_for("admin.user_show", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=None)


@blueprint.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def user_edit(user_id):
    require(current_user, "users.manage")
    user = db.get_or_404(User, user_id)
    form = UserEditForm(obj=user, township_id=user.township_id or 0)
    form.set_units(_townships())
    if form.validate_on_submit():
        try:
            changes = services.update_user(
                current_user, user, display_name=form.display_name.data, email=form.email.data,
                role=form.role.data, township=_township(form.township_id.data))
            if token_services.set_mobile(current_user, user, form.mobile.data):
                changes["mobile"] = True
        except DomainError as exc:
            form_errors(form, exc, default="role")
        else:
            flash(_("已保存") if changes else _("没有改动"), "success" if changes else "info")
            return redirect(url_for("admin.user_show", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=user)


def _confirmed_action(user_id: int, action, done_message, noop_message):
    require(current_user, "users.manage")
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        flash(_("页面已过期，请刷新后重试"), "error")
    else:
        try:
            changed = action(current_user, user)
        except DomainError as exc:
            discard()
            flash(str(exc.message), "error")
        else:
            flash(done_message if changed else noop_message, "success" if changed else "info")
    return redirect(url_for("admin.user_show", user_id=user.id))


@blueprint.route("/users/<int:user_id>/deactivate", methods=["POST"])
@login_required
def user_deactivate(user_id):
    return _confirmed_action(user_id, services.deactivate_user,
                             _("账号已停用：其登录已失效，API 令牌已吊销"), _("该账号此前已停用"))


@blueprint.route("/users/<int:user_id>/reactivate", methods=["POST"])
@login_required
def user_reactivate(user_id):
    return _confirmed_action(user_id, services.reactivate_user, _("账号已重新启用"),
                             _("该账号本来就在用"))


@blueprint.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@login_required
def user_password(user_id):
    require(current_user, "users.manage")
    user = db.get_or_404(User, user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        password = services.generate_password() if form.generate.data else form.password.data
        try:
            services.reset_password(current_user, user, password)
        except DomainError as exc:
            form_errors(form, exc, default="password")
        else:
            if user.id == current_user.id:
                login_user(user)  # an admin resetting their own password keeps this session
            if form.generate.data:
                return _secret_page(user, password, _("密码已重置"))
            flash(_("密码已重置，该用户的所有登录已失效"), "success")
            return redirect(url_for("admin.user_show", user_id=user.id))
    return render_template("admin/password.html", form=form, user=user)


# --- everyone's tokens -------------------------------------------------------------------------

def _token_filters(args) -> dict:
    return inputs.filter_args(args, search="q", choices={"status": token_services.STATUS_LABELS})


@blueprint.route("/tokens")
@login_required
def tokens():
    require(current_user, "tokens.manage_all")
    flt = _token_filters(request.args)
    now = utcnow()
    stmt = sa.select(ApiToken).join(ApiToken.user).options(joinedload(ApiToken.user))
    if "q" in flt:
        stmt = stmt.where(sa.or_(User.username.icontains(flt["q"], autoescape=True),
                                 User.display_name.icontains(flt["q"], autoescape=True),
                                 ApiToken.name.icontains(flt["q"], autoescape=True)))
    unexpired = sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)
    if flt.get("status") == "revoked":
        stmt = stmt.where(ApiToken.revoked_at.is_not(None))
    elif flt.get("status") == "expired":
        stmt = stmt.where(ApiToken.revoked_at.is_(None), sa.not_(unexpired))
    elif flt.get("status") == "active":
        stmt = stmt.where(ApiToken.revoked_at.is_(None), unexpired)
    rows = db.paginate(stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc()),
                       page=_page(), per_page=PER_PAGE, error_out=False)
    keep_in_range(rows)
    return render_template("admin/tokens.html", rows=rows, flt=flt, confirm=ConfirmForm(), now=now,
                           status=token_services.token_status,
                           STATUS_LABELS=token_services.STATUS_LABELS)


@blueprint.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def token_revoke(token_id):
    require(current_user, "tokens.manage_all")
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404)
    next_url = request.form.get("next")
    back = safe_next(next_url) if next_url else url_for("admin.tokens")
    if not ConfirmForm().validate_on_submit():
        flash(_("页面已过期，请刷新后重试"), "error")
    elif token.revoked_at is None and (page := unconfirmed(
            _("吊销 %(user)s 的令牌“%(name)s”？吊销后，使用它的程序将无法再访问，且不能恢复。",
              user=token.user.username, name=token.name or "—"), _("吊销"), back,
            keep=("next",))):
        return page
    elif token_services.revoke_token(current_user, token):
        flash(_("已吊销 %(user)s 的令牌“%(name)s”", user=token.user.username, name=token.name),
              "success")
    else:
        flash(_("该令牌此前已吊销"), "info")
    return redirect(back)
