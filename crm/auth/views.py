"""Sign-in, sign-out, password change and the language switch."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import services
from crm.auth.forms import LanguageForm, LoginForm, PasswordForm
from crm.errors import DomainError
from crm.extensions import db

blueprint = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Only a path on this site: ``//elsewhere`` and ``https://elsewhere`` go home instead."""
    if not target:
        return url_for("main.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("main.home")
    return target


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = services.authenticate(form.username.data, form.password.data)
        if user is None:
            flash(_("用户名或密码错误"), "error")
        else:
            if session.get("lang") and session["lang"] != user.locale:
                user.locale = session["lang"]
                db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(form.next.data))
    return render_template("auth/login.html", form=form)


@blueprint.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("您已退出登录"), "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data, form.password.data)
        except DomainError as exc:
            for field, messages in exc.fields.items():
                getattr(form, field, form.password).errors.extend(messages)
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # this session stays; the others end
            flash(_("密码已修改"), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form)


@blueprint.route("/language", methods=["POST"])
def language():
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
        if current_user.is_authenticated:
            current_user.locale = form.lang.data
            db.session.commit()
    return redirect(safe_next(form.next.data or request.referrer and urlsplit(request.referrer).path))
