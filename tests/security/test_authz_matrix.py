"""The authorization matrix (issue 8): every route and API call x every kind of user.

HOW TO ADD A ROUTE: add one ``R(...)`` line to ``ROUTES`` below (``test_every_route_is_in_the_matrix``
names what is missing). The format:

    R(endpoint, method, path, expect, body=None, writes=..., fresh_client=False)

- ``endpoint``, ``method``: as in ``app.url_map`` (flask-smorest views: ``"api_leads.LeadItem"``).
  Several lines may share an (endpoint, method): variants that target another object or relation.
- ``path``: the URL. ``{name}`` is filled from the world (``NAMES`` below): ``{lead_a}`` the lead
  of unit a whose primary officer is a-1 and helper a-3, ``{lead_b}`` the other unit's lead,
  ``{unit_a}``, ``{visit_a}`` (a-1's visit on lead_a today), ``{year}``, ``{n}`` (a number unique to
  the request), … and ``new_*`` names, built fresh for each request (``{new_lead}`` a lead like
  lead_a, ``{new_lead_neg}`` one in negotiation, ``{new_blocker}`` an open blocker of new_lead,
  ``{new_link}``, ``{new_dispatch}``, …). ``{new_lead.version}`` reads an attribute; a model
  object alone gives its id.
- ``expect``: nine outcomes, one per principal in the order of ``PRINCIPALS`` minus ``gone``:
      anon  a1  a3  a2  ahead  b1  bhead  viewer  admin
  (``gone``, a deactivated officer of unit a with a live session and token, always expects what
  ``anon`` expects). Outcomes: ``ok`` success (2xx, or a 3xx that is not to the sign-in page);
  ``login`` a 302 to /login; a number: exactly that status. Shorthands: ``PUBLIC``,
  ``SIGNED_IN``, ``LEAD_READ``, ``LEAD_WRITE``, ``LEAD_MANAGE``, ``VISIT_OWN``, ``ADMIN_ONLY``,
  ``NOT_FOUND``, ``HEADS_UP`` …; ``api(X)`` is X with 401 for the anonymous.
- ``body``: ``form(field=value, …)``, ``json(field=value, …)`` or ``upload(…)``; values (and form
  field names) may hold ``{name}``. In ``json``, a value that is one ``{name}`` keeps its type.
- ``writes``: True for a change (allowed: the database must change; denied: it must not, checked
  on a dump of every table), False (never changes anything), None (not checked: sign-in/out may
  log). Default: False for GET, True otherwise.
- ``fresh_client``: the request is made from a new session of that principal (sign-out).

What else is checked on every answer: no text of the other unit (``甲机密`` / ``乙机密`` markers on
everything of units a and b) and no one else's reminder (``甲一私人提醒``) is in it, for HTML, JSON and
.xlsx alike. The tests print: "authz matrix: R routes x P principals = N checks, D denied writes
verified unchanged".
"""

import datetime as dt
import io
import json as jsonlib
import string
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from crm.auth.models import ApiToken
from crm.auth.services import issue_token
from crm.bulletin import issues as bulletin_issues
from crm.bulletin.models import ScreenLink
from crm.channels import services as channel_services
from crm.channels.models import ChannelDispatch
from crm.claims import services as claim_services
from crm.clock import today, utcnow
from crm.companies.models import Dispute
from crm.extensions import db
from crm.industries import services as industry_services
from crm.industries.models import Industry
from crm.leads import services as lead_services
from crm.moveback import services as move_back_services
from crm.permits import services as permit_services
from crm.reminders.mail import unsubscribe_token
from crm.reminders.models import ReminderDispatch
from crm.supervision import services as supervision_services
from crm.targets import services as target_services
from crm.visits import services as visit_services
from tests import factories
from tests.conftest import FreshContextClient, make_app

# --- principals and outcomes -------------------------------------------------------------------

#: Who asks: the order of the columns of ``expect``; ``gone`` is added and mirrors ``anon``;
#: ``reviewer`` (区投促局 审核员) is a tenth column, which mirrors ``viewer`` when left out.
COLUMNS = ("anon", "a1", "a3", "a2", "ahead", "b1", "bhead", "viewer", "admin")
PRINCIPALS = (*COLUMNS, "reviewer", "gone")
USERNAMES = {"a1": "a-1", "a3": "a-3", "a2": "a-2", "ahead": "a-head", "b1": "b-1",
             "bhead": "b-head", "viewer": "viewer", "admin": "admin", "gone": "a-9",
             "reviewer": "reviewer"}
#: What a principal must never read: the other unit's marker, someone else's reminder.
A_SECRET, B_SECRET, A1_PRIVATE = "甲机密", "乙机密", "甲一私人提醒"
FORBIDDEN_TEXT = {
    "anon": (A_SECRET, B_SECRET, A1_PRIVATE), "gone": (A_SECRET, B_SECRET, A1_PRIVATE),
    "a1": (B_SECRET,), "a3": (B_SECRET, A1_PRIVATE), "a2": (B_SECRET, A1_PRIVATE),
    "ahead": (B_SECRET, A1_PRIVATE), "b1": (A_SECRET, A1_PRIVATE),
    "bhead": (A_SECRET, A1_PRIVATE), "viewer": (A1_PRIVATE,), "admin": (),
    "reviewer": (A1_PRIVATE,),
}
#: Columns never compared by the write check (bookkeeping a read may touch).
VOLATILE_COLUMNS = {("api_tokens", "last_used_at"), ("users", "last_seen_at"),
                    ("users", "last_login_at")}
#: Tables never compared (logs of sign-ins and requests, if a version of the app keeps them;
#: the statistics cache, which a read fills: its ``stats_versions`` are compared; the API rate
#: limit's counting windows).
VOLATILE_TABLES = {"signin_events", "sign_ins", "login_attempts", "signin_attempts",
                   "stats_cache", "rate_windows"}


def _expect(text: str) -> dict:
    tokens = text.split()
    assert len(tokens) in (len(COLUMNS), len(COLUMNS) + 1), text
    out = dict(zip(COLUMNS, tokens, strict=False))
    out["reviewer"] = tokens[len(COLUMNS)] if len(tokens) > len(COLUMNS) else out["viewer"]
    out["gone"] = out["anon"]
    return out


PUBLIC = "ok    ok  ok  ok  ok    ok  ok    ok     ok"
SIGNED_IN = "login ok ok  ok  ok    ok  ok    ok     ok"
LEAD_READ = "login ok ok  ok  ok    404 404   ok     ok"
LEAD_WRITE = "login ok ok  403 ok    404 404   403    ok"
LEAD_MANAGE = "login 403 403 403 ok   404 404   403    ok"
VISIT_OWN = "login ok 403 403 403   404 404   403    403"
UNIT_ROLES = "login ok ok  ok  ok    ok  ok    403    ok"      # officers, heads, admins
HEADS_UP = "login 403 403 403 ok   403 ok    ok     ok"       # heads, viewers, admins
DISTRICT = "login 403 403 403 403  403 403   ok     ok"       # viewers and admins
ADMIN_ONLY = "login 403 403 403 403 403 403   403    ok"
NOT_FOUND = "login 404 404 404 404  404 404   404    404"
GONE = "404  404 404 404 404   404 404   404    404"        # even for the anonymous
#: A revoked screen link: gone for good (410), whoever asks.
REVOKED = "410  410 410 410 410   410 410   410    410"
#: Supervision orders: the unit answers (the lead's officers, its head); the bureau issues, closes.
ORDER_ANSWER = "login ok ok 403 ok 404 404 403 403"
ORDER_ADMIN = "login 403 403 403 403 404 404 403 ok"
ALL_TO_LOGIN = "login login login login login login login login login"


def api(text: str) -> str:
    tokens = text.split()
    return " ".join(["401" if tokens[0] == "login" else tokens[0], *tokens[1:]])


# --- bodies ------------------------------------------------------------------------------------

@dataclass
class Body:
    kind: str  # form | json | upload
    fields: dict


def form(**fields) -> Body:
    return Body("form", fields)


def json(**fields) -> Body:
    return Body("json", fields)


def upload(csv_text: str) -> Body:
    return Body("upload", {"csv": csv_text})


def evidence(kind: str = "site_photo") -> Body:
    """A multipart evidence upload: a small real JPEG (unique per request) and its kind."""
    return Body("evidence", {"kind": kind})


TODAY = "{today}"


@dataclass
class R:
    endpoint: str
    method: str
    path: str
    expect: str
    body: Body | None = None
    writes: bool | None | str = "default"
    fresh_client: bool = False
    setup: tuple = ()

    def __post_init__(self):
        if self.writes == "default":
            self.writes = self.method != "GET"
        self.outcomes = _expect(self.expect)


IMPORT_CSV = "项目名称,投资方,计划投资(万元),所属镇街\n矩阵导入{n},矩阵导入公司{n},100,孟庄镇\n"
LEAD_FORM = form(name="{new_lead.name}改", company="{new_lead.company}", investment_wan="300",
                 source="other", version="{new_lead.version}")

# --- THE MATRIX --------------------------------------------------------------------------------
# columns of expect:                                             anon a1 a3 a2 ahead b1 bhead viewer admin
ROUTES = [
    # main, sign-in
    R("main.home", "GET", "/", SIGNED_IN),
    R("main.healthz", "GET", "/healthz", PUBLIC),
    R("main.favicon", "GET", "/favicon.ico", PUBLIC),
    # the installable app: manifest, service worker, offline page (no user in any of them)
    R("offline.manifest", "GET", "/manifest.webmanifest", PUBLIC),
    R("offline.service_worker", "GET", "/sw.js", PUBLIC),
    R("offline.offline_page", "GET", "/offline", PUBLIC),
    R("offline.my_leads", "GET", "/offline/my-leads", SIGNED_IN),
    R("auth.login", "GET", "/login", PUBLIC),
    R("auth.login", "POST", "/login", PUBLIC, form(username="{username}", password="wrong-pass-1"),
      writes=None),
    R("auth.logout", "POST", "/logout", ALL_TO_LOGIN, writes=None, fresh_client=True),
    R("auth.password", "GET", "/password", SIGNED_IN),
    R("auth.password", "POST", "/password", SIGNED_IN,
      form(current=factories.PASSWORD, password=factories.PASSWORD, confirm=factories.PASSWORD)),
    R("auth.language", "POST", "/language", PUBLIC, form(lang="zh_CN", next="/"), writes=False),
    # leads: lists
    R("leads.index", "GET", "/leads/", SIGNED_IN),
    R("leads.index", "GET", "/leads/?township_id={unit_b}&stage=active", SIGNED_IN),
    R("leads.index", "GET", "/leads/?township_id={unit_a}", SIGNED_IN),
    R("board.board", "GET", "/board", SIGNED_IN),
    R("board.board", "GET", "/board?township_id={unit_b}",
      "login ok ok ok ok ok ok ok ok"),
    R("board.my_work", "GET", "/my", "login ok ok ok ok ok ok 404 404"),
    # leads: create
    R("leads.create", "GET", "/leads/new", UNIT_ROLES),
    R("leads.create", "POST", "/leads/new", UNIT_ROLES,  # heads and officers: always their unit
      form(name="矩阵新建{n}", company="矩阵新建公司{n}", investment_wan="100", source="other",
           stage="contact", township_id="{unit_a}", created_on=TODAY, primary_officer_id="0")),
    # one lead: lead_a (a-1 primary, a-3 helper) and fresh copies for changes
    R("leads.show", "GET", "/leads/{lead_a}", LEAD_READ),
    R("leads.show", "GET", "/leads/{lead_b}", "login 404 404 404 404 ok ok ok ok"),
    R("leads.edit", "GET", "/leads/{lead_a}/edit", LEAD_WRITE),
    R("leads.edit", "POST", "/leads/{new_lead}/edit", LEAD_WRITE, LEAD_FORM),
    R("leads.move", "GET", "/leads/{lead_a}/move", LEAD_WRITE),
    R("leads.move", "POST", "/leads/{new_lead}/move", LEAD_WRITE,
      form(to="negotiation", on=TODAY, version="{new_lead.version}")),
    # back: heads and admins; the lead's officers get the form again with why (422), not a 403
    R("leads.move", "POST", "/leads/{new_lead_neg}/move", "login 422 422 403 ok 404 404 403 ok",
      form(to="contact", on=TODAY, reason="退回", version="{new_lead_neg.version}")),
    # 申请退回: the lead's officers ask; the unit's head (or an admin) decides
    R("moveback.ask", "POST", "/leads/{new_lead_neg}/move-back-request",
      "login ok ok 403 403 404 404 403 403", form(to_stage="contact", on=TODAY, reason="矩阵退回")),
    R("moveback.index", "GET", "/move-back/", "login 403 403 403 ok 403 ok 403 ok"),
    R("moveback.decide", "POST", "/move-back/{new_mbr}/decide",
      "login 403 403 403 ok 404 404 403 ok", form(decision="approve", note="")),
    R("moveback.decide", "POST", "/move-back/{new_mbr}/decide",
      "login 403 403 403 ok 404 404 403 ok", form(decision="refuse", note="矩阵不同意")),
    R("leads.assign", "GET", "/leads/{lead_a}/assign", LEAD_MANAGE),
    R("leads.assign", "POST", "/leads/{new_lead}/assign", LEAD_MANAGE,
      form(primary_officer_id="{a2}", helper_ids="{a1}", sponsor="矩阵领导")),
    R("leads.add_funds", "POST", "/leads/{new_lead}/funds", LEAD_WRITE,
      form(arrived_on=TODAY, amount_wan="12.5")),
    R("leads.add_contact", "POST", "/leads/{new_lead}/contacts", LEAD_WRITE,
      form(name="矩阵联系人", title="经理")),
    R("leads.add_blocker", "POST", "/leads/{new_lead}/blockers", LEAD_WRITE,
      form(kind="land", description="矩阵问题")),
    R("leads.resolve_blocker", "POST", "/leads/{new_lead}/blockers/{new_blocker}/resolve",
      LEAD_WRITE, form(resolution="已解决")),
    R("leads.resolve_blocker", "POST", "/leads/{lead_a}/blockers/{blocker_b}/resolve",
      NOT_FOUND, form(resolution="已解决")),  # another lead's blocker under lead_a's URL
    # visits
    R("visits.log", "GET", "/leads/{lead_a}/visits", LEAD_WRITE),
    R("visits.log", "POST", "/leads/{new_lead}/visits", LEAD_WRITE,
      form(visited_on=TODAY, kind="visit", summary="矩阵走访")),
    R("visits.sync", "POST", "/leads/{new_lead}/visits/sync", "401 201 201 403 201 404 404 403 201",
      json(visited_on=TODAY, kind="visit", summary="矩阵同步",
           client_id="00000000-0000-4000-9000-{n:012d}")),
    R("visits.edit", "GET", "/leads/{lead_a}/visits/{visit_a}/edit", VISIT_OWN),
    R("visits.edit", "POST", "/leads/{lead_a}/visits/{visit_a}/edit", VISIT_OWN,
      form(visited_on=TODAY, kind="call", summary="甲机密走访改{n}")),
    R("visits.edit", "GET", "/leads/{lead_a}/visits/{visit_b}/edit", NOT_FOUND),
    R("visits.edit", "POST", "/leads/{lead_b}/visits/{visit_b}/edit",
      "login 404 404 404 404 ok 403 403 403", form(visited_on=TODAY, kind="call", summary="乙机密改{n}")),
    # statistics, targets, bulletin, screens
    R("stats.overview", "GET", "/stats/", HEADS_UP),
    R("stats.unit", "GET", "/stats/unit/{unit_a}", "login 404 404 404 ok 404 404 ok ok"),
    R("targets.index", "GET", "/targets/", HEADS_UP),
    R("targets.index", "POST", "/targets/", ADMIN_ONLY,
      form(year="{year}", **{"t-{unit_a}-visits": "{n}"})),
    R("targets.copy", "POST", "/targets/copy", ADMIN_ONLY, form(year="{year}", overwrite="y"),
      setup=("prev_targets",)),
    R("targets.history", "GET", "/targets/history/{unit_a}", "login 403 403 403 ok 404 404 403 ok"),
    R("bulletin.page", "GET", "/bulletin", HEADS_UP),
    R("bulletin.download", "GET", "/bulletin.xlsx", HEADS_UP),
    R("bulletin.screen", "GET", "/screen", DISTRICT),
    R("bulletin.screen_by_token", "GET", "/screen/{screen_token}", PUBLIC),
    R("bulletin.screen_by_token", "GET", "/screen/{revoked_token}", REVOKED),
    R("bulletin.links", "GET", "/screen/links", ADMIN_ONLY),
    R("bulletin.links", "POST", "/screen/links", ADMIN_ONLY, form(name="矩阵屏幕{n}")),
    R("bulletin.revoke", "POST", "/screen/links/{new_link}/revoke", ADMIN_ONLY,
      form(confirmed="1")),
    # supervision orders (督办), published bulletins (通报 第N期), the monthly report (月报)
    R("supervision.index", "GET", "/supervision/", SIGNED_IN),
    R("supervision.index", "GET", "/supervision/?status=all&township_id={unit_b}", SIGNED_IN),
    R("supervision.show", "GET", "/supervision/{order_a}", LEAD_READ),
    R("supervision.show", "GET", "/supervision/{order_b}", "login 404 404 404 404 ok ok ok ok"),
    R("supervision.docx", "GET", "/supervision/{order_a}.docx", LEAD_READ),
    R("supervision.answer", "POST", "/supervision/{new_order}/answer", ORDER_ANSWER,
      form(text="矩阵答复{n}")),
    R("supervision.close", "POST", "/supervision/{new_order}/close", ORDER_ADMIN,
      form(note="矩阵办结{n}")),
    R("supervision.issue", "GET", "/leads/{lead_a}/supervision", ORDER_ADMIN),
    R("supervision.issue", "POST", "/leads/{new_lead}/supervision", ORDER_ADMIN,
      form(level="yellow", reason="矩阵督办{n}")),
    R("bulletins.index", "GET", "/bulletins/", DISTRICT),
    R("bulletins.index", "POST", "/bulletins/", ADMIN_ONLY, form(as_of="{new_as_of}")),
    R("bulletins.show", "GET", "/bulletins/{issue}", DISTRICT),
    R("bulletins.xlsx", "GET", "/bulletins/{issue}.xlsx", DISTRICT),
    R("bulletins.docx", "GET", "/bulletins/{issue}.docx", DISTRICT),
    R("reports.monthly", "GET", "/reports/monthly", HEADS_UP),
    R("reports.monthly_xlsx", "GET", "/reports/monthly.xlsx", HEADS_UP),
    R("reports.monthly_docx", "GET", "/reports/monthly.docx", HEADS_UP),
    R("api_supervision.OrderCollection", "GET", "/api/v1/supervision", api(SIGNED_IN)),
    R("api_supervision.LeadOrders", "POST", "/api/v1/leads/{new_lead}/supervision",
      api(ORDER_ADMIN), json(level="red", reason="矩阵API督办{n}")),
    R("api_supervision.OrderAnswers", "POST", "/api/v1/supervision/{new_order}/answers",
      api(ORDER_ANSWER), json(text="矩阵API答复{n}")),
    R("api_supervision.OrderClose", "POST", "/api/v1/supervision/{new_order}/close",
      api(ORDER_ADMIN), json(note="矩阵API办结{n}")),
    R("api_bulletins.BulletinCollection", "GET", "/api/v1/bulletins", api(DISTRICT)),
    R("api_bulletins.BulletinCollection", "POST", "/api/v1/bulletins", api(ADMIN_ONLY),
      json(as_of="{new_as_of}")),
    R("api_bulletins.BulletinItem", "GET", "/api/v1/bulletins/{issue}", api(DISTRICT)),
    # reminders
    R("reminders.index", "GET", "/reminders/", SIGNED_IN),
    R("reminders.preferences", "GET", "/reminders/preferences", SIGNED_IN),
    R("reminders.preferences", "POST", "/reminders/preferences", SIGNED_IN, form(save="1")),  # off
    R("reminders.unsubscribe", "GET", "/reminders/unsubscribe/{unsub_a1}", PUBLIC),
    R("reminders.unsubscribe", "POST", "/reminders/unsubscribe/{unsub_a1}", PUBLIC, form()),
    R("reminders.unsubscribe", "POST", "/reminders/unsubscribe/{unsub_tampered}", GONE, form()),
    R("reminders.admin", "GET", "/reminders/admin", ADMIN_ONLY),
    R("reminders.retry", "POST", "/reminders/admin/retry", ADMIN_ONLY,
      form(dispatch_id="{new_dispatch}")),
    # the group robots (channels) and their message log
    R("channels.index", "GET", "/admin/channels/", ADMIN_ONLY),
    R("channels.create", "GET", "/admin/channels/new", ADMIN_ONLY),
    R("channels.create", "POST", "/admin/channels/new", ADMIN_ONLY,
      form(name="矩阵群{n}", kind="wecom", township_id="0", enabled="y",
           url="http://127.0.0.1:9/cgi-bin/webhook/send?key=matrix{n}")),
    R("channels.edit", "GET", "/admin/channels/{new_channel}/edit", ADMIN_ONLY),
    R("channels.edit", "POST", "/admin/channels/{new_channel}/edit", ADMIN_ONLY,
      form(name="矩阵改名群{n}", township_id="{unit_a}", enabled="y")),
    R("channels.test", "POST", "/admin/channels/{new_channel}/test", ADMIN_ONLY, form()),
    R("channels.delete", "POST", "/admin/channels/{new_channel}/delete", ADMIN_ONLY, form()),
    R("channels.messages", "GET", "/admin/channels/messages", ADMIN_ONLY),
    R("channels.retry", "POST", "/admin/channels/messages/retry", ADMIN_ONLY,
      form(dispatch_id="{new_channel_dispatch}")),
    # imports and exports
    R("imports.template", "GET", "/imports/template.xlsx", UNIT_ROLES),
    R("imports.leads", "GET", "/imports/leads", UNIT_ROLES),
    R("imports.leads", "POST", "/imports/leads", UNIT_ROLES, upload(IMPORT_CSV), writes=False),
    R("imports.confirm", "POST", "/imports/leads/confirm",  # rows of unit a: b may not import
      "login ok ok ok ok 422 422 403 ok", form(token="{import_own}")),
    R("imports.confirm", "POST", "/imports/leads/confirm",  # a-1's upload, confirmed by others
      "login ok 403 403 403 403 403 403 403", form(token="{import_a1}")),
    R("imports.job", "GET", "/imports/jobs/{job_own}", UNIT_ROLES),
    R("imports.job", "GET", "/imports/jobs/{job_a1}",  # only whoever confirmed it
      "login ok 404 404 404 404 404 403 404"),
    R("imports.job_progress", "GET", "/imports/jobs/{job_own}/progress.json", UNIT_ROLES),
    R("imports.job_progress", "GET", "/imports/jobs/{job_a1}/progress.json",
      "login ok 404 404 404 404 404 403 404"),
    R("exports.leads", "GET", "/exports/leads.xlsx", SIGNED_IN),
    R("exports.leads", "GET", "/exports/leads.xlsx?township_id={unit_b}", SIGNED_IN),  # a: empty
    R("exports.leads", "GET", "/exports/leads.xlsx?township_id={unit_a}", SIGNED_IN),  # b: empty
    R("exports.visits", "GET", "/exports/visits.xlsx", SIGNED_IN),
    R("exports.visits", "GET", "/exports/visits.xlsx?township_id={unit_b}", SIGNED_IN),
    R("exports.visits", "GET", "/exports/visits.xlsx?township_id={unit_a}", SIGNED_IN),  # b: empty
    R("exports.admin_backup", "GET", "/admin/backup", ADMIN_ONLY),
    # user and token administration, own tokens, the sign-in log
    R("admin.users", "GET", "/admin/users", ADMIN_ONLY),
    R("admin.user_create", "GET", "/admin/users/new", ADMIN_ONLY),
    R("admin.user_create", "POST", "/admin/users/new", ADMIN_ONLY,
      form(username="matrix{n}", display_name="矩阵用户", email="m{n}@example.cn", role="officer",
           township_id="{unit_a}", generate="y")),
    R("admin.user_show", "GET", "/admin/users/{a2}", ADMIN_ONLY),
    R("admin.user_edit", "GET", "/admin/users/{new_user}/edit", ADMIN_ONLY),
    R("admin.user_edit", "POST", "/admin/users/{new_user}/edit", ADMIN_ONLY,
      form(display_name="矩阵改名{n}", email="e{n}@example.cn", role="officer", township_id="{unit_a}")),
    R("admin.user_deactivate", "POST", "/admin/users/{new_user}/deactivate", ADMIN_ONLY, form()),
    R("admin.user_reactivate", "POST", "/admin/users/{inactive_user}/reactivate", ADMIN_ONLY, form()),
    R("admin.user_password", "GET", "/admin/users/{new_user}/password", ADMIN_ONLY),
    R("admin.user_password", "POST", "/admin/users/{new_user}/password", ADMIN_ONLY,
      form(generate="y")),
    R("admin.tokens", "GET", "/admin/tokens", ADMIN_ONLY),
    R("admin.token_revoke", "POST", "/admin/tokens/{token_a2}/revoke", ADMIN_ONLY,
      form(confirmed="1")),
    R("account.tokens", "GET", "/account/tokens", SIGNED_IN),
    R("account.tokens", "POST", "/account/tokens", SIGNED_IN, form(name="矩阵令牌{n}", days="90")),
    R("account.token_revoke", "POST", "/account/tokens/{own_token}/revoke", SIGNED_IN,
      form(confirmed="1")),
    R("account.token_revoke", "POST", "/account/tokens/{token_a2}/revoke",  # only a-2's own
      "login 404 404 ok 404 404 404 404 404", form(confirmed="1")),
    R("auth.signins", "GET", "/admin/signins", ADMIN_ONLY),
    # the industry list (产业目录) and sorting 待归类 leads: admins
    R("industries.index", "GET", "/admin/industries/", ADMIN_ONLY),
    R("industries.index", "POST", "/admin/industries/", ADMIN_ONLY,
      form(name="矩阵产业{n}", chain="矩阵产业链", aliases="矩阵别名{n}")),
    R("industries.edit", "GET", "/admin/industries/{new_industry}/edit", ADMIN_ONLY),
    R("industries.edit", "POST", "/admin/industries/{new_industry}/edit", ADMIN_ONLY,
      form(name="矩阵改名{n}", chain="矩阵产业链", aliases="", sort_order="5", active="y")),
    R("industries.unsorted", "GET", "/admin/industries/unsorted", ADMIN_ONLY),
    R("industries.unsorted", "POST", "/admin/industries/unsorted", ADMIN_ONLY,
      form(text="{new_unsorted}", industry_id="{industry}")),
    # the API
    R("api-docs.openapi_json", "GET", "/api/v1/openapi.json", PUBLIC),
    R("api_me.me", "GET", "/api/v1/me", api(SIGNED_IN)),
    R("api_townships.townships", "GET", "/api/v1/townships", api(SIGNED_IN)),
    R("api_industries.industries", "GET", "/api/v1/industries", api(SIGNED_IN)),
    R("api_leads.LeadCollection", "GET", "/api/v1/leads", api(SIGNED_IN)),
    R("api_leads.LeadCollection", "GET", "/api/v1/leads?township_id={unit_b}", api(SIGNED_IN)),
    R("api_leads.LeadCollection", "POST", "/api/v1/leads", "401 201 201 201 201 403 403 403 201",
      json(name="矩阵API{n}", company="矩阵API公司{n}", investment_wan=100, township_id="{unit_a}")),
    R("api_leads.LeadItem", "GET", "/api/v1/leads/{lead_a}", api(LEAD_READ)),
    R("api_leads.LeadItem", "PATCH", "/api/v1/leads/{new_lead}", api(LEAD_WRITE),
      json(name="{new_lead.name}改", version="{new_lead.version}")),
    R("api_leads.LeadTransitions", "POST", "/api/v1/leads/{new_lead}/transitions", api(LEAD_WRITE),
      json(to="negotiation", version="{new_lead.version}")),
    R("api_leads.LeadTransitions", "POST", "/api/v1/leads/{new_lead_neg}/transitions",
      api(LEAD_MANAGE), json(to="contact", reason="退回", version="{new_lead_neg.version}")),
    R("api_leads.LeadVisits", "GET", "/api/v1/leads/{lead_a}/visits", api(LEAD_READ)),
    R("api_leads.LeadVisits", "POST", "/api/v1/leads/{new_lead}/visits",
      "401 201 201 403 201 404 404 403 201",
      json(visited_on=TODAY, kind="visit", summary="矩阵API走访")),
    R("api_leads.LeadVisits", "POST", "/api/v1/leads/{new_lead}/visits",
      "401 201 201 403 201 404 404 403 201",
      json(visited_on=TODAY, kind="visit", summary="矩阵API走访",
           client_id="00000000-0000-4000-8000-{n:012d}")),
    R("api_leads.LeadFunds", "POST", "/api/v1/leads/{new_lead}/funds",
      "401 201 201 403 201 404 404 403 201", json(arrived_on=TODAY, amount_wan=5)),
    R("api_stats.township_stats", "GET", "/api/v1/stats/townships", api(HEADS_UP)),
    R("api_targets.TargetCollection", "GET", "/api/v1/targets?year={year}", api(HEADS_UP)),
    R("api_targets.UnitTargets", "PUT", "/api/v1/targets/{unit_a}/{year}",
      "401 403 403 403 403 404 404 403 ok", json(visits="{n}")),
    # companies (投资方) and disputes (撞单): companies are the district's; a project on a company's
    # page only through the lead's own visibility; the queue and rulings: reviewers and admins
    # columns: anon a1 a3 a2 ahead b1 bhead viewer admin reviewer
    R("companies.index", "GET", "/companies/", SIGNED_IN),
    R("companies.index", "GET", "/companies/?q=中宠", SIGNED_IN),
    R("companies.suggest", "GET", "/companies/suggest?q=中宠", SIGNED_IN),
    R("companies.show", "GET", "/companies/{company_a}", SIGNED_IN),
    R("companies.show", "GET", "/companies/{company_b}", SIGNED_IN),
    R("companies.disputes", "GET", "/disputes/", "login 403 403 403 403 403 403 403 ok ok"),
    R("companies.disputes", "GET", "/disputes/?status=ruled",
      "login 403 403 403 403 403 403 403 ok ok"),
    R("companies.dispute", "GET", "/disputes/{new_dispute}",
      "login 403 403 403 403 403 403 403 ok ok"),
    R("companies.dispute", "POST", "/disputes/{new_dispute}",
      "login 403 403 403 403 403 403 403 ok ok", form(decision="separate", note="矩阵裁定")),
    R("api_companies.CompanyCollection", "GET", "/api/v1/companies?q=中宠", api(SIGNED_IN)),
    R("api_companies.DisputeCollection", "GET", "/api/v1/disputes",
      "401 403 403 403 403 403 403 403 ok ok"),
    R("api_companies.DisputeRuling", "POST", "/api/v1/disputes/{new_dispute}/ruling",
      "401 403 403 403 403 403 403 403 ok ok", json(decision="keep_first", note="矩阵裁定")),
    # claims (核验): evidence files, the queue, a claim, review (four-eyes), resubmission
    # columns: anon a1 a3 a2 ahead b1 bhead viewer admin reviewer
    R("claims.upload", "POST", "/leads/{new_lead}/attachments",
      "login ok ok 403 ok 404 404 403 ok 403", evidence()),
    R("claims.download", "GET", "/claims/files/{att_a}", LEAD_READ),
    R("claims.preview", "GET", "/claims/files/{att_a}/view", LEAD_READ),
    R("claims.thumbnail", "GET", "/claims/files/{att_a}/thumb", LEAD_READ),
    R("claims.queue", "GET", "/claims/", "login 403 403 403 403 403 403 403 ok ok"),
    R("claims.show", "GET", "/claims/{claim_a}", LEAD_READ),
    R("claims.review", "POST", "/claims/{new_claim}/review",
      "login 403 403 403 403 404 404 403 ok ok", form(decision="return", opinion="矩阵退回")),
    R("claims.add_evidence", "POST", "/claims/{new_claim}/evidence",
      "login ok ok 403 ok 404 404 403 ok 403", form(attachment_id="{new_claim_att}")),
    R("claims.resubmit", "POST", "/claims/{returned_claim}/resubmit",
      "login ok ok 403 ok 404 404 403 ok 403", form()),
    R("api_claims.LeadAttachments", "POST", "/api/v1/leads/{new_lead}/attachments",
      "401 201 201 403 201 404 404 403 201 403", evidence()),
    R("api_claims.AttachmentFile", "GET", "/api/v1/attachments/{att_a}", api(LEAD_READ)),
    R("api_claims.ClaimCollection", "GET", "/api/v1/claims", api(SIGNED_IN)),
    R("api_claims.ClaimCollection", "GET", "/api/v1/claims?township_id={unit_a}", api(SIGNED_IN)),
    R("api_claims.ClaimEvidenceCall", "POST", "/api/v1/claims/{new_claim}/evidence",
      "401 ok ok 403 ok 404 404 403 ok 403", json(attachment_id="{new_claim_att}")),
    R("api_claims.ClaimReviewCall", "POST", "/api/v1/claims/{new_claim}/review",
      "401 403 403 403 403 404 404 403 ok ok", json(decision="return", opinion="矩阵退回")),
    R("api_claims.ClaimResubmit", "POST", "/api/v1/claims/{returned_claim}/resubmit",
      "401 ok ok 403 ok 404 404 403 ok 403", json()),
    # permit checklists (手续办理清单): the lead's editors change them; the overdue list
    R("permits.add", "POST", "/leads/{new_lead}/permits", LEAD_WRITE,
      form(kind="land", due_on=TODAY, responsible_unit="矩阵局")),
    R("permits.edit", "GET", "/permits/{permit_a}/edit", LEAD_WRITE, writes=False),
    R("permits.edit", "GET", "/permits/{permit_b}/edit", "login 404 404 404 404 ok ok 403 ok",
      writes=False),
    R("permits.edit", "POST", "/permits/{new_permit}/edit", LEAD_WRITE,
      form(kind="land", due_on=TODAY, responsible_unit="矩阵局", note="矩阵改{n}")),
    R("permits.done", "POST", "/permits/{new_permit}/done", LEAD_WRITE, form(done_on=TODAY)),
    R("permits.overdue", "GET", "/permits/overdue", HEADS_UP),
    R("api_permits.LeadPermits", "GET", "/api/v1/leads/{lead_a}/permits", api(LEAD_READ)),
    R("api_permits.LeadPermits", "POST", "/api/v1/leads/{new_lead}/permits",
      "401 201 201 403 201 404 404 403 201", json(kind="land", due_on=TODAY)),
    R("api_permits.PermitItem", "PATCH", "/api/v1/permits/{new_permit}", api(LEAD_WRITE),
      json(note="矩阵{n}")),
]

#: Placeholders whose object belongs to unit a's lead (for the cross-unit test).
LEAD_A_OBJECTS = ("lead_a", "new_lead", "new_lead_neg", "new_mbr", "visit_a", "new_blocker", "att_a",
                  "claim_a", "new_claim", "returned_claim", "permit_a", "new_permit")


# --- the world ---------------------------------------------------------------------------------

def build_world(app, instance_path: Path):
    """World of the conftest, plus a helper officer, a deactivated one, visits, contacts,
    blockers of both units, a reminder, screen links; every unit's text carries its marker."""
    w = factories.build_world()
    w.a3 = factories.user("a-3", "officer", w.a)
    w.gone = factories.user("a-9", "officer", w.a)
    lead_services.assign(w.head_a, w.lead_a, w.off_a1.id, [w.a3.id])
    for lead in (w.lead_a, w.lead_a2):
        lead.name, lead.company = f"{lead.name}{A_SECRET}", f"{lead.company}{A_SECRET}"
    w.lead_b.name, w.lead_b.company = f"{w.lead_b.name}{B_SECRET}", f"{w.lead_b.company}{B_SECRET}"
    for unit, officer, lead, marker in (("a", w.off_a1, w.lead_a, A_SECRET),
                                        ("b", w.off_b1, w.lead_b, B_SECRET)):
        visit = visit_services.log_visit(officer, lead, {
            "kind": "visit", "summary": f"{marker}走访", "visited_on": today()})
        lead_services.add_contact(officer, lead, f"{marker}联系人", "总经理", "")
        blocker = lead_services.add_blocker(officer, lead, "land", f"{marker}用地问题")
        lead_services.add_funds(officer, lead, today(), Decimal("7"))
        setattr(w, f"visit_{unit}", visit)
        setattr(w, f"blocker_{unit}", blocker)
        setattr(w, f"permit_{unit}", permit_services.add_permit(officer, lead, {
            "kind": "environment", "due_on": today() - dt.timedelta(days=10),  # yellow: not on screens
            "responsible_unit": f"{marker}审批局", "note": f"{marker}手续"}))
    target_services.set_targets(w.admin, w.a.id, today().year, {"visits": Decimal(10)})
    target_services.set_targets(w.admin, w.b.id, today().year, {"visits": Decimal(20)})
    db.session.add(ReminderDispatch(user_id=w.off_a1.id, kind="daily", period="2000-01-01",
                                    status="sent", subject=A1_PRIVATE, message=""))
    link, w.screen_token = ScreenLink.issue(w.admin, "大厅")
    revoked, w.revoked_token = ScreenLink.issue(w.admin, "旧屏")
    revoked.revoked_at = utcnow()
    db.session.add_all([link, revoked])
    w.reviewer = factories.user("reviewer", "reviewer")
    w.att_a = claim_services.upload_attachment(w.off_a1, w.lead_a, _jpeg(0), "甲现场.jpg",
                                               "site_photo")
    w.claim_a = w.lead_a.claims[0]  # its capital entry's claim
    w.order_a = supervision_services.issue_order(w.admin, w.lead_a, "yellow", f"{A_SECRET}督办")
    w.order_b = supervision_services.issue_order(w.admin, w.lead_b, "red", f"{B_SECRET}督办")
    w.issue = bulletin_issues.publish(w.admin, today() - dt.timedelta(days=1))
    w.users = {"a1": w.off_a1, "a3": w.a3, "a2": w.off_a2, "ahead": w.head_a, "b1": w.off_b1,
               "bhead": w.head_b, "viewer": w.viewer, "admin": w.admin, "gone": w.gone,
               "reviewer": w.reviewer}
    w.tokens = {p: issue_token(u, "matrix") for p, u in w.users.items()}
    w.instance_path = instance_path
    w.counter = 0
    db.session.commit()
    return w


def sign_in(app, principal, w) -> FreshContextClient:
    client = app.test_client()
    if principal != "anon":
        response = client.post("/login", data={"username": USERNAMES[principal],
                                                "password": factories.PASSWORD})
        assert response.status_code == 302 or principal == "gone", principal
    return client


def clients_for(app, w) -> dict:
    clients = {p: sign_in(app, p, w) for p in PRINCIPALS}
    w.gone.active = False  # signed in and holding a token, then deactivated
    db.session.commit()
    return clients


# --- filling in a cell -------------------------------------------------------------------------

class Cell:
    """One request's names: static objects of the world and fresh ones, built on first use."""

    def __init__(self, w, principal):
        self.w, self.principal = w, principal
        self.user = w.users.get(principal)
        self.values: dict = {}

    def __getitem__(self, name):
        if name not in self.values:
            self.values[name] = self._make(name)
        return self.values[name]

    def _make(self, name):  # noqa: C901, PLR0911, PLR0912  (one table of names)
        w = self.w
        static = {"lead_a": w.lead_a, "lead_b": w.lead_b, "unit_a": w.a, "unit_b": w.b,
                  "visit_a": w.visit_a, "visit_b": w.visit_b, "blocker_b": w.blocker_b,
                  "a1": w.off_a1, "a2": w.off_a2, "a3": w.a3, "year": today().year,
                  "today": today().isoformat(), "screen_token": w.screen_token,
                  "revoked_token": w.revoked_token, "att_a": w.att_a, "claim_a": w.claim_a,
                  "permit_a": w.permit_a, "permit_b": w.permit_b,
                  "order_a": w.order_a, "order_b": w.order_b, "issue": w.issue}
        if name in static:
            return static[name]
        if name == "n":
            w.counter += 1
            return w.counter
        if name == "username":
            return USERNAMES.get(self.principal, "nobody")
        if name in ("new_lead", "new_lead_neg"):
            lead = factories.lead(w.head_a, w.a, name=f"{A_SECRET}矩阵项目{self['n']}",
                                  company=f"矩阵公司{self['n']}", primary_officer_id=w.off_a1.id,
                                  helper_ids=[w.a3.id],
                                  stage="negotiation" if name == "new_lead_neg" else "contact",
                                  created_on=today() - dt.timedelta(days=3))
            return lead
        if name == "new_mbr":  # a pending 申请退回 by a-1 on a lead in negotiation
            return move_back_services.request_move_back(w.off_a1, self["new_lead_neg"],
                                                        "contact", "矩阵申请退回")
        if name in ("company_a", "company_b"):
            return (w.lead_a if name == "company_a" else w.lead_b).company_id
        if name == "new_dispute":  # unit b registers an investor unit a holds
            n = self["n"]
            factories.lead(w.head_a, w.a, name=f"{A_SECRET}矩阵先报{n}", company=f"矩阵撞单公司{n}",
                           primary_officer_id=w.off_a1.id)
            second = factories.lead(w.head_b, w.b, name=f"{B_SECRET}矩阵后报{n}",
                                    company=f"（山东）矩阵撞单公司{n}有限公司",
                                    primary_officer_id=w.off_b1.id)
            db.session.flush()
            return db.session.scalar(sa.select(Dispute.id).where(
                Dispute.second_lead_id == second.id))
        if name in ("new_claim", "returned_claim"):
            lead = factories.lead(w.head_a, w.a, name=f"{A_SECRET}矩阵申报{self['n']}",
                                  company=f"矩阵申报公司{self['n']}", primary_officer_id=w.off_a1.id,
                                  helper_ids=[w.a3.id], stage="signed")
            claim = lead.claims[0]
            if name == "returned_claim":
                claim_services.review(w.reviewer, claim, "return", "矩阵意见")
            return claim
        if name == "new_claim_att":
            claim = self["new_claim"]
            return claim_services.upload_attachment(w.off_a1, claim.lead, _jpeg(self["n"]),
                                                    "矩阵.jpg", "contract")
        if name == "new_permit":
            return permit_services.add_permit(w.head_a, self["new_lead"], {
                "kind": "planning", "due_on": today(), "responsible_unit": "矩阵局"})
        if name == "new_order":
            return supervision_services.issue_order(w.admin, self["new_lead"], "yellow",
                                                    f"{A_SECRET}矩阵督办{self['n']}")
        if name == "new_as_of":
            return (today() - dt.timedelta(days=10 + self["n"])).isoformat()
        if name == "new_blocker":
            return lead_services.add_blocker(w.head_a, self["new_lead"], "power", "矩阵用电")
        if name == "new_link":
            link, _raw = ScreenLink.issue(w.admin, f"矩阵屏{self['n']}")
            db.session.add(link)
            db.session.flush()
            return link
        if name == "new_dispatch":
            row = ReminderDispatch(user_id=w.off_a2.id, kind="daily", period=f"m{self['n']}",
                                   status="pending", attempts=1, last_error="smtp: down",
                                   subject="矩阵提醒", message=_message(w.off_a2.email))
            db.session.add(row)
            db.session.flush()
            return row
        if name == "new_channel":  # a robot nobody listens for (the discard port)
            channel = channel_services.add_channel(
                w.admin, name=f"矩阵机器人{self['n']}", kind="wecom", township=w.a,
                url=f"http://127.0.0.1:9/cgi-bin/webhook/send?key=matrix{self['n']}")
            return channel
        if name == "new_channel_dispatch":
            row = ChannelDispatch(channel_id=self["new_channel"].id, kind="daily",
                                  ref=f"m{self['n']}", status="pending", attempts=1,
                                  last_error="network: refused", title="矩阵消息", body="矩阵",
                                  mentions="", link="")
            db.session.add(row)
            db.session.flush()
            return row
        if name == "unsub_a1":
            w.off_a1.reminder_daily = True
            return unsubscribe_token(w.off_a1, "daily")
        if name == "unsub_tampered":
            token = unsubscribe_token(w.off_a1, "daily")
            return ("A" if token[0] != "A" else "B") + token[1:]
        if name == "prev_targets":
            target_services.set_targets(w.admin, w.a.id, today().year - 1,
                                        {"new_leads": Decimal(self["n"])})
            return ""
        if name == "industry":
            return db.session.scalar(sa.select(Industry.id).where(Industry.active)
                                     .order_by(Industry.id).limit(1))
        if name == "new_industry":
            return industry_services.create_industry(w.admin, f"矩阵产业新{self['n']}", "矩阵产业链")
        if name == "new_unsorted":
            lead = factories.lead(w.head_a, w.a, name=f"矩阵待归类{self['n']}",
                                  company=f"矩阵待归类公司{self['n']}")
            lead.industry_text = f"矩阵旧产业{self['n']}"
            db.session.flush()
            return lead.industry_text
        if name in ("new_user", "inactive_user"):
            user = factories.user(f"matrix-u{self['n']}", "officer", w.a)
            user.active = name == "new_user"
            db.session.flush()
            return user
        if name in ("own_token", "token_a2"):
            owner = w.off_a2 if name == "token_a2" else (self.user or w.off_a1)
            token, _raw = ApiToken.issue(owner, f"矩阵令牌{self['n']}",
                                         expires_at=utcnow() + dt.timedelta(days=30))
            db.session.add(token)
            db.session.flush()
            return token
        if name in ("import_own", "import_a1"):
            owner = w.off_a1 if name == "import_a1" else self.user
            return _import_token(w, owner, self)
        if name in ("job_own", "job_a1"):
            owner = w.off_a1 if name == "job_a1" or self.user is None else self.user
            return _import_job(owner, self)
        raise KeyError(f"unknown name {{{name}}} in the matrix")


def _jpeg(n: int) -> bytes:
    """A small real JPEG, different for each ``n``."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (n % 256, (n // 256) % 256, 90)).save(out, "JPEG")
    return out.getvalue()


def _message(to: str) -> str:
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "矩阵提醒", "crm@example.test", to
    message.set_content("矩阵")
    return message.as_string()


def _import_token(w, owner, cell) -> str:
    """An upload as the page stores it (instance/uploads) and its signed token for ``owner``."""
    from flask import current_app

    folder = w.instance_path / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"matrix-{cell['n']}.csv"
    stored.write_text(fill(IMPORT_CSV, cell), encoding="utf-8")
    serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="crm.imports.upload")
    return serializer.dumps({"f": stored.name, "n": "matrix.csv", "u": owner.id if owner else None})


def _import_job(owner, cell) -> str:
    """A finished import job of ``owner`` (its progress file, as the confirm step writes it)."""
    from crm.imports import jobs

    job_id = f"{owner.id}-matrix{cell['n']}"
    jobs._write(jobs.folder() / f"{job_id}.json", {
        "id": job_id, "user_id": owner.id, "filename": "matrix.csv", "state": "done",
        "total": 1, "done": 1, "created": 1, "message": ""})
    return job_id


class _Formatter(string.Formatter):
    def __init__(self, cell):
        self.cell = cell

    def get_value(self, key, args, kwargs):
        return self.cell[key]

    def format_field(self, value, format_spec):
        if hasattr(value, "id") and not format_spec:
            value = value.id
        return super().format_field(value, format_spec)


def fill(text: str, cell: Cell):
    return _Formatter(cell).format(text)


def fill_raw(value, cell: Cell):
    """A json value: one ``{name}`` keeps its type (ints stay ints)."""
    if isinstance(value, str):
        parsed = list(string.Formatter().parse(value))
        if len(parsed) == 1 and parsed[0][0] == "" and parsed[0][1] is not None:
            raw = _Formatter(cell).get_field(parsed[0][1], (), {})[0]
            return raw.id if hasattr(raw, "id") else raw
        return fill(value, cell)
    return value


def request_kwargs(route: R, cell: Cell) -> dict:
    for name in route.setup:
        cell[name]
    kwargs: dict = {"path": fill(route.path, cell), "method": route.method}
    body = route.body
    if body is None:
        return kwargs
    if body.kind == "form":
        kwargs["data"] = {fill(k, cell): fill(v, cell) for k, v in body.fields.items()}
    elif body.kind == "json":
        kwargs["json"] = {k: fill_raw(v, cell) for k, v in body.fields.items()}
    elif body.kind == "evidence":
        kwargs["data"] = {"file": (io.BytesIO(_jpeg(cell["n"])), "矩阵.jpg"),
                          "kind": body.fields["kind"]}
        kwargs["content_type"] = "multipart/form-data"
    else:
        data = fill(body.fields["csv"], cell).encode("utf-8")
        kwargs["data"] = {"file": (io.BytesIO(data), "matrix.csv")}
        kwargs["content_type"] = "multipart/form-data"
    return kwargs


# --- checking a cell ---------------------------------------------------------------------------

_DUMP_QUERIES: dict = {}


def _dump_queries() -> list[tuple[str, str]]:
    """(table, SELECT of its compared columns), raw SQL: no type processing, so it is quick."""
    dialect = db.engine.dialect.name
    if dialect not in _DUMP_QUERIES:
        _DUMP_QUERIES[dialect] = _build_dump_queries()
    return _DUMP_QUERIES[dialect]


def _build_dump_queries() -> list[tuple[str, str]]:
    queries = []
    for table in db.metadata.sorted_tables:
        if table.name in VOLATILE_TABLES:
            continue
        cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
        order = list(table.primary_key.columns) or cols
        stmt = sa.select(*cols).order_by(*order)
        queries.append((table.name, str(stmt.compile(dialect=db.engine.dialect))))
    return queries


def fingerprint() -> dict:
    """Every row of every table (the world is small), bookkeeping columns left out."""
    db.session.commit()
    out = {}
    cursor = db.session.connection().connection.cursor()
    try:
        for name, query in _dump_queries():
            cursor.execute(query)
            out[name] = repr(cursor.fetchall())
    finally:
        cursor.close()
    db.session.rollback()
    return out


def _writes_during(make):
    """``make()`` and whether it sent the database anything but a SELECT."""
    sent = []

    def listen(conn, cursor, statement, *args):
        if not statement.lstrip()[:6].upper() == "SELECT":
            sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        result = make()
        db.session.flush()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    return result, bool(sent)


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


def body_text(response) -> str:
    mimetype = response.mimetype or ""
    data = response.get_data()
    if mimetype.endswith("spreadsheetml.sheet"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist()
                           if n.endswith(".xml"))
    if response.is_json:
        return jsonlib.dumps(response.get_json(), ensure_ascii=False)
    if mimetype.startswith("text/") or mimetype in ("application/javascript",):
        return response.get_data(as_text=True)
    return ""


def outcome_matches(expected: str, response) -> bool:
    status = response.status_code
    to_login = status == 302 and urlsplit(response.location).path == "/login"
    if expected == "ok":
        return 200 <= status < 400 and not to_login
    if expected == "login":
        return to_login
    return status == int(expected)


@dataclass
class Tally:
    checks: int = 0
    denied_writes: int = 0
    routes: set = field(default_factory=set)
    failures: list = field(default_factory=list)


def _send(route: R, principal: str, kwargs: dict, w, clients, app):
    client = sign_in(app, principal, w) if route.fresh_client else clients[principal]
    headers = {}
    if kwargs["path"].startswith("/api/") and principal != "anon":
        headers["Authorization"] = f"Bearer {w.tokens[principal]}"
    response = client.open(headers=headers, **kwargs)
    if route.fresh_client and principal not in ("anon", "gone"):
        # Signing out ends every session of the user: the shared client signs in again.
        clients[principal] = sign_in(app, principal, w)
    return response


def _judge(route, principal, kwargs, expected, response, changed, tally: Tally) -> None:
    """Status, writes (``changed``: tables that changed, None when not compared) and leaks."""
    label = f"{route.method} {kwargs['path']} ({route.endpoint}) as {principal}"
    tally.checks += 1
    tally.routes.add((route.endpoint, route.method))
    problems = []
    if not outcome_matches(expected, response):
        problems.append(f"expected {expected}, got {response.status_code}"
                        f" {response.location or ''}")
    if changed is not None:
        allowed = expected == "ok" or expected.startswith("2")
        if route.writes and allowed and not changed:
            problems.append("allowed, but nothing was written (is the body valid?)")
        if (not route.writes or not allowed) and changed:
            problems.append(f"wrote to {changed}")
        if route.writes and not allowed and not changed:
            tally.denied_writes += 1
    text = body_text(response)
    leaked = [s for s in FORBIDDEN_TEXT[principal] if s in text]
    if leaked:
        problems.append(f"leaks {leaked}")
    if response.status_code >= 500:
        problems.append("server error")
    tally.failures.extend(f"{label}: {problem}" for problem in problems)


def run_route(route: R, principals, m, tally: Tally, expected: str | None = None) -> None:
    """Every principal's request of one line. A change is compared per request; a line that
    never writes is compared once around all its requests (each must have written nothing)."""
    w, clients, app = m.w, m.clients, m.app
    if route.writes:
        after = None
        for principal in principals:
            kwargs, setup_wrote = _writes_during(lambda p=principal: request_kwargs(route, Cell(w, p)))
            # the dump after the last request is the dump before this one, unless the cell's
            # objects were written in between
            before = after if after is not None and not setup_wrote else fingerprint()
            response = _send(route, principal, kwargs, w, clients, app)
            after = fingerprint()
            _judge(route, principal, kwargs, expected or route.outcomes[principal], response,
                   changed_tables(before, after), tally)
            db.session.expire_all()
        return
    cells = [(p, request_kwargs(route, Cell(w, p))) for p in principals]
    before = fingerprint() if route.writes is not None else None
    answers = [(p, kwargs, _send(route, p, kwargs, w, clients, app)) for p, kwargs in cells]
    changed = None if before is None else changed_tables(before, fingerprint())
    for principal, kwargs, response in answers:
        _judge(route, principal, kwargs, expected or route.outcomes[principal], response,
               changed, tally)
    db.session.expire_all()


@pytest.fixture
def matrix(app, tmp_path):
    w = build_world(app, Path(app.instance_path))
    clients = clients_for(app, w)
    return SimpleNamespace(app=app, w=w, clients=clients)


# --- the tests ---------------------------------------------------------------------------------

def test_every_route_is_in_the_matrix(tmp_path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'routes.sqlite3'}")
    in_app = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" for method in rule.methods - {"HEAD", "OPTIONS"}}
    in_table = {(r.endpoint, r.method) for r in ROUTES}
    missing = sorted(in_app - in_table)
    stale = sorted(in_table - in_app)
    assert not missing, "routes missing from ROUTES in tests/security/test_authz_matrix.py " \
        "(add one R(...) line each):\n" + "\n".join(f"  {e} {m}" for e, m in missing)
    assert not stale, "ROUTES lines whose route no longer exists:\n" + \
        "\n".join(f"  {e} {m}" for e, m in stale)
    print(f"\nauthz routes: {len(in_app)} (endpoint, method) pairs in the URL map, all in the matrix")


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_matrix(matrix):
    tally = Tally()
    for route in ROUTES:
        run_route(route, PRINCIPALS, matrix, tally)
    print(f"\nauthz matrix: {len(tally.routes)} routes x {len(PRINCIPALS)} principals = "
          f"{tally.checks} checks, {tally.denied_writes} denied writes verified unchanged")
    assert not tally.failures, f"{len(tally.failures)} of {tally.checks} cells wrong:\n" + \
        "\n".join(tally.failures)
    assert tally.denied_writes > 100


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_other_units_lead_is_not_found_never_forbidden(matrix):
    """Every page and API call on unit a's lead (and its visits, blockers, funds, …) answers
    404 to both people of unit b, never 403, writes nothing and shows nothing of it. (Lists and
    exports filtered to unit a answer them an empty list, as for a unit that does not exist:
    the matrix checks they hold nothing of unit a.)"""
    tally, cells = Tally(), 0
    for route in ROUTES:
        if not any(f"{{{name}" in route.path for name in LEAD_A_OBJECTS):
            continue
        for principal in ("b1", "bhead"):
            run_route(route, [principal], matrix, tally, expected="404")
            cells += 1
    print(f"\nauthz cross-unit: {cells} requests on unit a's lead by unit b, all 404")
    assert cells >= 40
    assert not tally.failures, "\n".join(tally.failures)
    # and the table says so too: nobody of unit b gets a 403 on unit a's lead
    for route in ROUTES:
        if any(f"{{{name}" in route.path for name in LEAD_A_OBJECTS):
            assert route.outcomes["b1"] == route.outcomes["bhead"] == "404", route
