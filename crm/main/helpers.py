"""Template globals and filters: policy, labels, money and dates."""


from flask import request, url_for
from flask_babel import format_date, get_locale
from flask_wtf.csrf import generate_csrf

from crm.auth.models import ROLE_LABELS
from crm.auth.permissions import can
from crm.clock import local_time, today
from crm.leads.models import BLOCKER_LABELS, KEY_LEVEL_LABELS, SOURCE_LABELS
from crm.leads.pipeline import LOST_REASON_LABELS, ORDERED_STAGES, STAGE_LABELS, STAGES
from crm.money import list_separator, wan_phrase, wan_text, yi_phrase, yi_text
from crm.visits.models import KIND_LABELS as VISIT_KIND_LABELS


def register(app):
    @app.context_processor
    def globals_():
        return {
            "can": _can,
            "STAGE_LABELS": STAGE_LABELS,
            "ORDERED_STAGES": ORDERED_STAGES,
            "STAGES": STAGES,
            "LOST_REASON_LABELS": LOST_REASON_LABELS,
            "SOURCE_LABELS": SOURCE_LABELS,
            "KEY_LEVEL_LABELS": KEY_LEVEL_LABELS,
            "BLOCKER_LABELS": BLOCKER_LABELS,
            "VISIT_KIND_LABELS": VISIT_KIND_LABELS,
            "ROLE_LABELS": ROLE_LABELS,
            "csrf_token": generate_csrf,
            "today": today,
            "url_with": url_with,
            "current_locale": lambda: str(get_locale() or "zh_CN"),
        }

    app.jinja_env.filters["yi"] = yi_text
    #: An amount in a sentence: "3.50 亿元", in English "350 million yuan".
    app.jinja_env.filters["yi_amount"] = lambda v: yi_phrase(v, _english())
    #: Reasons and other clauses joined: "；" in Chinese, "; " in English.
    app.jinja_env.filters["clauses"] = lambda items: list_separator(_english()).join(
        str(i) for i in items or ())
    app.jinja_env.filters["wan"] = wan_text
    #: An exact amount of 万元 in a sentence: "12.5 万元", in English "125,000 yuan".
    app.jinja_env.filters["wan_amount"] = lambda v: wan_phrase(v, _english())
    app.jinja_env.filters["date"] = lambda d: format_date(d, "yyyy-MM-dd") if d else ""
    app.jinja_env.filters["datetime"] = (
        lambda t: local_time(t).strftime("%Y-%m-%d %H:%M") if t else ""
    )


def _english() -> bool:
    return str(get_locale() or "zh_CN").startswith("en")


def _can(action, obj=None):
    from flask_login import current_user

    return can(current_user, action, obj)


def url_with(**changes) -> str:
    """The current page's URL with some query arguments changed (filters, pagination)."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [value]
    return url_for(request.endpoint, **(request.view_args or {}), **args)
