"""Locale selection: the user's choice (profile, else session), Chinese by default."""

from flask import g, has_request_context, request, session
from flask_login import current_user

SUPPORTED = ("zh_CN", "en")
DEFAULT = "zh_CN"


def select_locale() -> str:
    """Outside a request (CLI, scheduler, mail) ``g.locale`` may name the reader's language."""
    forced = g.get("locale") if g else None
    if forced in SUPPORTED:
        return forced
    if not has_request_context():
        return DEFAULT
    if request.args.get("lang") in SUPPORTED:
        return request.args["lang"]
    if current_user and current_user.is_authenticated:
        return current_user.locale
    lang = session.get("lang")
    return lang if lang in SUPPORTED else DEFAULT
