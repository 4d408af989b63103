"""The bulletin page and its .xlsx, the big screen (亮屏公示) and the screens' secret links."""

import io

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from crm import audit, inputs
from crm.auth.permissions import require
from crm.bulletin.issues import latest_issue
from crm.bulletin.models import ScreenLink
from crm.bulletin.report import (
    METRIC_SHORT_LABELS,
    DistrictReader,
    actual_text,
    bulletin_data,
    margin_points,
    parse_as_of,
    pending_summary,
    percent,
    rank_text,
    target_text,
    write_bulletin_xlsx,
)
from crm.clock import local_time, today, utcnow
from crm.downloads import send_download
from crm.extensions import db
from crm.leads.colour import COLOUR_LABELS
from crm.leads.models import KEY_LEVEL_LABELS
from crm.main.dashboard import screen_charts
from crm.main.forms import unconfirmed
from crm.supervision.queries import list_orders
from crm.targets.models import METRIC_LABELS

blueprint = Blueprint("bulletin", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The screen lists every red project; with JavaScript it shows them this many at a time,
#: turning to the next group every SCREEN_ROTATE_SECONDS (static/js/screen.js).
SCREEN_RED_PAGE = 6
SCREEN_ROTATE_SECONDS = 12
SCREEN_REFRESH_SECONDS = 300
#: A screen's headers: no cache, no index, no referrer (its link is its secret).
SCREEN_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow",
                  "Referrer-Policy": "no-referrer"}


@blueprint.context_processor
def helpers():
    return {"percent": percent, "target_text": target_text, "margin_points": margin_points,
            "METRIC_LABELS": METRIC_LABELS, "METRIC_SHORT_LABELS": METRIC_SHORT_LABELS,
            "COLOUR_LABELS": COLOUR_LABELS, "pending_summary": pending_summary,
            "targets_by_metric": lambda unit: {t.metric: t for t in unit.targets},
            "actual_text": actual_text, "rank_text": rank_text,
            "KEY_LEVEL_LABELS": KEY_LEVEL_LABELS}


def _as_of():
    """The as-of date of a download: 400 when malformed (a file is named after its date)."""
    try:
        return parse_as_of(request.args.get("as_of"), today())
    except ValueError:
        abort(400)


@blueprint.route("/bulletin")
@login_required
def page():
    require(current_user, "bulletin.view")
    as_of = inputs.date_or_default(request.args, "as_of", today(), what=_("截至日期"))
    data = bulletin_data(current_user, as_of)
    # 督办: the orders not yet closed, beside the colours (their own section of the page)
    orders = list_orders(current_user, status="live", issued_to=as_of)
    return render_template("bulletin/page.html", data=data, as_of=as_of, orders=orders)


@blueprint.route("/bulletin.xlsx")
@login_required
def download():
    require(current_user, "bulletin.view")
    as_of = _as_of()
    stream = io.BytesIO()
    write_bulletin_xlsx(bulletin_data(current_user, as_of), stream)
    stream.seek(0)
    return send_download(stream, mimetype=XLSX_MIMETYPE,
                         name=_("红黄蓝通报-%(d)s.xlsx", d=as_of.isoformat()),
                         ascii_name=f"bulletin-{as_of.isoformat()}.xlsx")


def _screen(reader, *, signed_in: bool):
    as_of = today()
    data = bulletin_data(reader, as_of)
    html = render_template(
        "bulletin/screen.html", data=data, as_of=as_of, as_of_text=format_date(as_of, "full"),
        issue=latest_issue(), signed_in=signed_in, red=data.with_colour("red"),
        red_page=SCREEN_RED_PAGE, rotate_seconds=SCREEN_ROTATE_SECONDS,
        charts=screen_charts(reader, data, as_of),
        refreshed_at=local_time(utcnow()), refresh_seconds=SCREEN_REFRESH_SECONDS,
    )
    # A screen's link is its secret: never cached, indexed, or sent on as a referrer.
    return html, 200, SCREEN_HEADERS


def _screen_gone(revoked: bool):
    """A screen link that was revoked (410) or never existed (404): a page of its own, in the
    screen's style, with no navigation (nobody at a wall screen is signed in)."""
    html = render_template("bulletin/screen_gone.html", revoked=revoked)
    return html, 410 if revoked else 404, SCREEN_HEADERS


@blueprint.route("/screen")
@login_required
def screen():
    require(current_user, "district.view")
    return _screen(current_user, signed_in=True)


@blueprint.route("/screen/<token>")
def screen_by_token(token: str):
    """A screen's secret link: no sign-in; the district's data, as a viewer sees it."""
    if len(token) > 100:
        return _screen_gone(revoked=False)
    link = db.session.scalar(
        sa.select(ScreenLink).where(ScreenLink.token_hash == ScreenLink.hash(token))
    )
    if link is None:
        return _screen_gone(revoked=False)
    if not link.is_active:
        return _screen_gone(revoked=True)
    return _screen(DistrictReader(), signed_in=False)


def _require_link_admin():
    require(current_user, "screens.manage")


def _links():
    return db.session.scalars(
        sa.select(ScreenLink).options(joinedload(ScreenLink.created_by))
        .order_by(ScreenLink.revoked_at.is_not(None), ScreenLink.id.desc())
    ).all()


@blueprint.route("/screen/links", methods=["GET", "POST"])
@login_required
def links():
    _require_link_admin()
    new_url, error, name = None, None, ""
    if request.method == "POST":
        name = inputs.clean_text(request.form.get("name") or "").strip()
        if not inputs.has_visible(name) or len(name) > 64:
            error = _("请填写屏幕名称（不超过64个字）")
        else:
            link, raw = ScreenLink.issue(current_user, name)
            db.session.add(link)
            db.session.flush()
            audit.record(current_user, "screen.create", link, changes={"name": [None, name]})
            new_url = url_for("bulletin.screen_by_token", token=raw, _external=True)
            name = ""
    return render_template("bulletin/links.html", links=_links(), new_url=new_url, error=error,
                           name=name), 422 if error else 200


@blueprint.route("/screen/links/<int:link_id>/revoke", methods=["POST"])
@login_required
def revoke(link_id: int):
    _require_link_admin()
    link = db.session.get(ScreenLink, link_id)
    if link is None:
        abort(404)
    if link.is_active and (page := unconfirmed(
            _("停用屏幕链接“%(name)s”？停用后，使用该链接的大屏将无法再显示。", name=link.name),
            _("停用"), url_for("bulletin.links"))):
        return page
    if link.is_active:
        link.revoked_at = utcnow()
        audit.record(current_user, "screen.revoke", link, changes={"name": [link.name, None]})
        flash(_("已停用屏幕链接“%(name)s”", name=link.name), "success")
    return redirect(url_for("bulletin.links"))
