"""Sign-in, sign-out, password change, the language switch and the sign-in log."""

import datetime as dt
import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy.orm import joinedload

from crm import inputs
from crm.auth import passwords, services, throttle
from crm.auth.forms import LanguageForm, LoginForm, PasswordForm
from crm.auth.models import LOGIN_OUTCOME_LABELS, LoginAttempt
from crm.auth.permissions import require
from crm.clock import utcnow
from crm.errors import DomainError
from crm.extensions import db
from crm.paging import keep_in_range
from crm.unit_of_work import discard

blueprint = Blueprint("auth", __name__)
SIGNINS_PER_PAGE = 50


def safe_next(target: str | None) -> str:
    """Only a path on this site: ``//elsewhere`` and ``https://elsewhere`` go home instead."""
    if not target:
        return url_for("main.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("main.home")
    return target


def _sign_in_session(user, remember: bool) -> None:
    """Start the Flask-Login session; a remember-cookie lasts CRM_REMEMBER_DAYS."""
    days = current_app.config["CRM_REMEMBER_DAYS"]
    login_user(user, remember=remember, duration=dt.timedelta(days=days))


#: The plain sign-in page (no query, no message) as rendered, by locale, with its CSRF token
#: replaced by ``_CSRF_SLOT``: a flood of page loads costs a string replace each, not a render.
_login_pages: dict[tuple, tuple[float, str]] = {}
_CSRF_SLOT = "\x00csrf\x00"
LOGIN_PAGE_SECONDS = 60


def _plain_login_page() -> str:
    """The sign-in page of no query and no message, for this visitor's CSRF token."""
    key = (id(current_app._get_current_object()), str(get_locale()))
    now = time.monotonic()
    cached = _login_pages.get(key)
    if cached is None or now - cached[0] > LOGIN_PAGE_SECONDS:
        html = render_template("auth/login.html", form=LoginForm(next=""))
        cached = _login_pages[key] = (now, html.replace(generate_csrf(), _CSRF_SLOT))
    return cached[1].replace(_CSRF_SLOT, generate_csrf())


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if request.method == "GET" and not request.args and not session.get("_flashes"):
        return _plain_login_page()
    if request.method == "POST" and throttle.gate().full():
        # A flood: answered before the form, the database or the full page are touched.
        return _busy(throttle.Refusal("busy", utcnow() + throttle.BUSY_RETRY))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        result = throttle.sign_in_and_commit(form.username.data, form.password.data,
                                             request.remote_addr or "", request.user_agent.string)
        if result.refusal is not None:
            return _throttled(form, result.refusal)
        if result.user is None:
            flash(_("用户名或密码错误"), "error")
            left, minutes = result.failures_left, current_app.config["CRM_LOGIN_WINDOW_MINUTES"]
            if left == 0:
                flash(_("该账号登录失败次数过多，已暂停登录 %(m)s 分钟。", m=minutes), "warning")
            elif left is not None and left <= 3:
                flash(_("再失败 %(n)s 次，该账号将暂停登录 %(m)s 分钟。", n=left, m=minutes), "warning")
        else:
            user = result.user
            if session.get("lang") and session["lang"] != user.locale:
                user.locale = session["lang"]
            _sign_in_session(user, remember=form.remember.data)
            return redirect(safe_next(form.next.data))
    return render_template("auth/login.html", form=form)


def _busy(refusal):
    """Too many sign-ins at once: a small page (no navigation, no form) that is cheap to send."""
    message = _("登录请求过多，请 %(n)s 秒后再试。", n=refusal.seconds_left())
    response = make_response(render_template("auth/busy.html", message=message), 429)
    response.headers["Retry-After"] = str(refusal.seconds_left())
    return response


def _throttled(form, refusal):
    minutes = refusal.minutes_left()
    if refusal.scope == "busy":
        return _busy(refusal)
    if refusal.scope == "account":
        message = _("该账号登录失败次数过多，已暂停登录。请 %(n)s 分钟后再试；忘记密码请联系管理员。",
                    n=minutes)
    else:
        message = _("从您的网络地址登录失败次数过多，已暂停登录。请 %(n)s 分钟后再试。", n=minutes)
    response = make_response(render_template("auth/login.html", form=form, throttled=message), 429)
    response.headers["Retry-After"] = str(refusal.seconds_left())
    return response


@blueprint.route("/logout", methods=["POST"])
def logout():
    everywhere = request.form.get("everywhere") == "1"
    if current_user.is_authenticated:
        services.sign_out(current_user._get_current_object(), everywhere=everywhere)
    logout_user()
    flash(_("您已在所有设备上退出登录") if everywhere else _("您已退出登录"), "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data, form.password.data)
        except DomainError as exc:
            discard()
            for field, messages in exc.fields.items():
                getattr(form, field, form.password).errors.extend(messages)
        else:
            # This browser stays signed in (and remembered if it was); the others are signed out.
            cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            _sign_in_session(current_user._get_current_object(), remember=cookie in request.cookies)
            flash(_("密码已修改"), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form, min_length=passwords.min_length())


@blueprint.route("/admin/signins")
@login_required
def signins():
    """The sign-in log for administrators: every attempt, newest first, with filters."""
    require(current_user, "signins.view")
    flt = {}
    username = throttle.normalise_username(request.args.get("username"))
    address = (request.args.get("address") or "").strip()[:45]
    outcome = request.args.get("outcome") or ""
    stmt = sa.select(LoginAttempt).options(joinedload(LoginAttempt.user))
    if username:
        flt["username"] = username
        stmt = stmt.where(LoginAttempt.username == username)
    if address:
        flt["address"] = address
        stmt = stmt.where(LoginAttempt.address == address)
    if outcome in LOGIN_OUTCOME_LABELS:
        flt["outcome"] = outcome
        stmt = stmt.where(LoginAttempt.outcome == outcome)
    stmt = stmt.order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
    page = inputs.page_arg(request.args, maximum=10**6 - 1)
    rows = db.paginate(stmt, page=page, per_page=SIGNINS_PER_PAGE, error_out=False)
    keep_in_range(rows)
    return render_template("auth/signins.html", rows=rows, flt=flt, OUTCOMES=LOGIN_OUTCOME_LABELS)


@blueprint.route("/language", methods=["POST"])
def language():
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
        if current_user.is_authenticated:
            current_user.locale = form.lang.data
    return redirect(safe_next(form.next.data or request.referrer and urlsplit(request.referrer).path))
