"""A user's own API tokens: list, create (the raw token shown once), revoke."""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.account import services
from crm.account.forms import RevokeForm, TokenForm
from crm.auth.models import ApiToken
from crm.auth.permissions import require
from crm.clock import utcnow
from crm.errors import DomainError
from crm.extensions import db
from crm.main.forms import form_errors, unconfirmed
from crm.paging import keep_in_range

blueprint = Blueprint("account", __name__, url_prefix="/account")

PER_PAGE = 50


def no_store(html):
    """A page with a secret on it (a token, a password): never cached, never re-shown."""
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    require(current_user, "tokens.own")
    form = TokenForm()
    created = None
    if form.validate_on_submit():
        try:
            token, raw = services.create_token(current_user, current_user, form.name.data,
                                               form.days.data)
        except DomainError as exc:
            form_errors(form, exc, default="name")
        else:
            created = {"name": token.name, "raw": raw, "expires_at": token.expires_at}
            form = TokenForm(formdata=None)
    page = inputs.page_arg(request.args)
    rows = db.paginate(
        sa.select(ApiToken).where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc()),
        page=page, per_page=PER_PAGE, error_out=False,
    )
    keep_in_range(rows)
    html = render_template("account/tokens.html", form=form, rows=rows, created=created,
                           revoke_form=RevokeForm(), now=utcnow(), status=services.token_status,
                           STATUS_LABELS=services.STATUS_LABELS)
    return no_store(html)


@blueprint.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def token_revoke(token_id):
    require(current_user, "tokens.own")
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id)
    )
    if token is None:
        abort(404)  # another user's token does not exist for this user
    if not RevokeForm().validate_on_submit():
        flash(_("页面已过期，请刷新后重试"), "error")
    elif token.revoked_at is None and (page := unconfirmed(
            _("吊销令牌“%(name)s”？吊销后，使用它的程序将无法再访问，且不能恢复。",
              name=token.name or "—"), _("吊销"), url_for("account.tokens"))):
        return no_store(page)
    elif services.revoke_token(current_user, token):
        flash(_("令牌“%(name)s”已吊销，使用它的程序将无法再访问", name=token.name), "success")
    else:
        flash(_("该令牌此前已吊销"), "info")
    return redirect(url_for("account.tokens"))
