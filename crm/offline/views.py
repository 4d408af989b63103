"""The web manifest, the service worker (at the root, so its scope is the whole app), the page
shown offline when nothing is cached, and what every page tells offline.js (the signed-in user,
the CSRF token, the messages in the user's language).

Every HTML answer says whose it is in ``X-CRM-User`` (a user id, 0 for nobody): the service
worker keeps each user's pages apart by it and drops them all at a sign-out (crm/static/js/sw.js).
"""

import hashlib
import json
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from crm.auth.permissions import scope_leads
from crm.extensions import db
from crm.leads.models import Lead, LeadOfficer

blueprint = Blueprint("offline", __name__)

#: The files of the app shell, cached by the service worker when it installs.
SHELL = ("css/app.css", "js/app.js", "js/offline-queue.js", "js/offline.js", "icons/icon.svg",
         "icons/icon-192.png", "icons/icon-512.png", "favicon.svg")
THEME = "#1d4f91"


@blueprint.route("/manifest.webmanifest")
def manifest():
    body = {
        "name": _("招商 CRM"),
        "short_name": _("招商 CRM"),
        "description": _("招商引资项目管理：项目、走访、阶段与统计"),
        "lang": "zh-CN",
        "start_url": url_for("main.home"),
        "scope": "/",
        "id": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME,
        "background_color": "#f3f5f8",
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192",
             "type": "image/png", "purpose": "any maskable"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "any maskable"},
            {"src": url_for("static", filename="icons/icon.svg"), "sizes": "any",
             "type": "image/svg+xml"},
        ],
    }
    response = current_app.response_class(json.dumps(body, ensure_ascii=False),
                                          mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@cache
def _worker_source(static_folder: str) -> str:
    """sw.js with the shell's URLs and a version made of the shell's contents: a changed file
    makes a new worker, which replaces the cached shell."""
    static = Path(static_folder)
    digest = hashlib.sha256((static / "js" / "sw.js").read_bytes())
    for name in SHELL:
        digest.update((static / name).read_bytes())
    urls = [f"/static/{name}" for name in SHELL] + ["/offline"]
    head = (f"const VERSION = {json.dumps(digest.hexdigest()[:12])};\n"
            f"const SHELL = {json.dumps(urls)};\n")
    return head + (static / "js" / "sw.js").read_text(encoding="utf-8")


@blueprint.route("/sw.js")
def service_worker():
    response = current_app.response_class(_worker_source(current_app.static_folder),
                                          mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    # The browser checks for a new worker on each visit; nothing may keep an old one.
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.route("/offline")
def offline_page():
    """What the service worker shows for a page it has no copy of; the same for everyone (no
    user in it: it is cached for all)."""
    return render_template("offline/page.html", minimal=True)


#: How many of a user's own leads the service worker keeps for offline reading.
OWN_LEADS_KEPT = 30


@blueprint.route("/offline/my-leads")
@login_required
def my_leads():
    """The pages of the leads the user works on (primary or helper officer), most recently
    changed first: offline.js asks the service worker to keep them for reading offline."""
    mine = sa.or_(Lead.primary_officer_id == current_user.id,
                  Lead.helpers.any(LeadOfficer.user_id == current_user.id))
    ids = db.session.scalars(
        scope_leads(sa.select(Lead.id), current_user).where(mine)
        .order_by(Lead.updated_at.desc(), Lead.id.desc()).limit(OWN_LEADS_KEPT)).all()
    return jsonify(paths=[url_for("leads.show", lead_id=i) for i in ids])


@blueprint.after_app_request
def say_whose(response):
    # Not on a 5xx: an outage answers as to nobody, and must not make the worker drop the
    # pages kept for when the server cannot be reached.
    if response.mimetype == "text/html" and response.status_code < 500:
        user = g.get("_login_user")
        if user is not None:
            whose = str(user.id) if user.is_authenticated else "0"
        else:  # not looked up in this request: the session says (no database asked here)
            whose = str(session.get("_user_id") or "0").partition(":")[0]
        response.headers["X-CRM-User"] = whose
    return response


def _messages() -> dict:
    return {
        "pending": _("待同步 %(n)s 条", n="{n}"),
        "pendingHint": _("这些走访保存在本机，联网后自动上传。"),
        "retry": _("立即同步"),
        "syncing": _("正在同步…"),
        "synced": _("已同步 %(n)s 条走访", n="{n}"),
        "discard": _("放弃"),
        "discardConfirm": _("放弃这条走访？它不会被上传。"),
        "refused": _("被拒绝：%(why)s", why="{why}"),
        "waiting": _("待同步"),
        "signedOut": _("登录已失效，请重新登录后再同步。"),
        "offlineCopy": _("离线副本，更新于 %(when)s", when="{when}"),
        "offlineNow": _("当前离线：页面为只读副本，走访可先保存在本机。"),
        "queued": _("已离线保存，联网后自动同步（待同步 %(n)s 条）", n="{n}"),
        "logoutPending": _("还有 %(n)s 条走访未同步，退出后将从本机删除。确定退出？", n="{n}"),
        "serverError": _("服务器暂时无法处理，稍后自动重试。"),
    }


@blueprint.app_context_processor
def offline_helpers():
    def offline_attrs(signed_in: bool) -> Markup:
        """The data attributes of offline.js's script tag: who is signed in (nobody on the
        minimal pages), the CSRF token of the session, the messages."""
        attrs = {"data-messages": json.dumps(_messages(), ensure_ascii=False)}
        if signed_in:
            from flask_wtf.csrf import generate_csrf

            attrs["data-user"] = str(current_user.id)
            attrs["data-csrf"] = generate_csrf()
        return Markup(" ").join(Markup('{}="{}"').format(name, value)  # values escaped
                                for name, value in attrs.items())

    return {"offline_attrs": offline_attrs}
