"""The one policy module: who may see and do what (district admins, township heads, officers and reviewers).

Views, the API, queries and templates all ask here: ``visible_leads(user)`` for every list and
count, ``can(user, action, obj)`` for every change. Nothing else decides access.
"""

import sqlalchemy as sa
from flask import abort

from crm.auth.models import (
    DISTRICT_ADMIN,
    DISTRICT_ROLES,
    OFFICER,
    REVIEWER,
    TOWNSHIP_HEAD,
    UNIT_ROLES,
    User,
)
from crm.extensions import db
from crm.leads.models import COUNTED_OWNERSHIPS, Lead, LeadOfficer
from crm.townships.models import Township

HEAD, ADMIN = TOWNSHIP_HEAD, DISTRICT_ADMIN
#: A lead merged into another by a ruling (crm/companies): in no list, search or statistic.
MERGED = "merged"
#: Roles that may create leads (in their own unit; admins in any).
CREATOR_ROLES = (OFFICER, HEAD, ADMIN)


def _role_in(*roles):
    """A rule that needs no object: the user's role is one of ``roles``."""
    def rule(user: User, _obj=None) -> bool:
        return user.role in roles
    return rule


def _same_unit(user: User, lead: Lead) -> bool:
    return user.township_id is not None and lead.township_id == user.township_id


def _assigned(user: User, lead: Lead) -> bool:
    return _same_unit(user, lead) and user.id in lead.officer_ids


def _head_of(user: User, lead: Lead) -> bool:
    return user.role == HEAD and _same_unit(user, lead)


def _admin(user: User, _obj=None) -> bool:
    return user.role == ADMIN


def _may_see_lead(user: User, lead: Lead) -> bool:
    return user.role in DISTRICT_ROLES or _same_unit(user, lead)


def _may_edit_lead(user: User, lead: Lead) -> bool:
    if lead.ownership == MERGED:  # kept for the record, read-only
        return False
    return _admin(user) or _head_of(user, lead) or (user.role == OFFICER and _assigned(user, lead))


def _may_manage_lead(user: User, lead: Lead) -> bool:
    """Back moves, reopening, assignments: heads of the unit and admins."""
    if lead.ownership == MERGED:
        return False
    return _admin(user) or _head_of(user, lead)


def _may_request_move_back(user: User, lead: Lead) -> bool:
    """申请退回: the lead's own officers, who may move it forward but not back, ask the head."""
    return user.role == OFFICER and _may_edit_lead(user, lead) and not _may_manage_lead(user, lead)


def _may_create_in(user: User, township_id: int | None) -> bool:
    if user.role == ADMIN:
        return True
    return user.role in UNIT_ROLES and township_id == user.township_id


def _may_edit_visit(user: User, visit) -> bool:
    """Own visit, the same day it was logged (business date)."""
    from crm.clock import local_time, today

    return (
        visit.user_id == user.id
        and local_time(visit.created_at).date() == today()
        and _may_edit_lead(user, visit.lead)
    )


def _may_view_unit(user: User, township_id: int | None) -> bool:
    return user.role in DISTRICT_ROLES or (
        township_id is not None and township_id == user.township_id
    )


def _may_review_claim(user: User, claim) -> bool:
    """Reviewers and admins; never one's own claim nor a claim with evidence one uploaded
    (四眼原则: the four-eyes rule)."""
    if user.role not in (ADMIN, REVIEWER) or claim is None:
        return False
    if claim.submitted_by_id == user.id:
        return False
    return all(a.uploaded_by_id != user.id for a in claim.evidence)


def _may_submit_claim(user: User, claim) -> bool:
    """Evidence and resubmission: the lead's editors."""
    return _may_edit_lead(user, claim.lead)


def _may_answer_order(user: User, order) -> bool:
    """The unit answers a supervision order: its head, or the lead's officers."""
    return _head_of(user, order.lead) or (user.role == OFFICER and _assigned(user, order.lead))


#: Actions by name. A callable refines the answer for one object; actions without an object
#: (pages, menu entries, whole features) answer for the user alone.
RULES = {
    "lead.view": _may_see_lead,
    "lead.create": _may_create_in,  # obj: the township id
    "lead.new": _role_in(*CREATOR_ROLES),  # the new-lead page and button: in some unit
    "lead.any_unit": _admin,  # a new lead's unit is chosen, not the creator's own
    "lead.assigned_to_me": _role_in(OFFICER),  # officers work on the leads assigned to them
    "lead.edit": _may_edit_lead,
    "lead.move": _may_edit_lead,
    "lead.move_back": _may_manage_lead,
    "lead.reopen": _may_manage_lead,
    #: 申请退回 (crm/moveback): an officer asks; the unit's head (or an admin) decides, and is
    #: told by mail (heads of the lead's unit).
    "lead.move_back_request": _may_request_move_back,
    "move_back.decide": lambda user, request: _may_manage_lead(user, request.lead),
    #: The list of requests waiting for a decision (heads: their unit; admins: the district).
    "move_back.list": _role_in(HEAD, ADMIN),
    "move_back.mail": lambda user, township_id: user.role == HEAD
    and user.township_id == township_id,
    "lead.assign": _may_manage_lead,
    "lead.funds": _may_edit_lead,
    "lead.blockers": _may_edit_lead,
    "permit.edit": _may_edit_lead,  # obj: the lead (its permit checklist, 手续办理清单)
    #: The list of overdue permit items by responsible unit: the district, and heads for their unit.
    "permits.overdue": _role_in(*DISTRICT_ROLES, HEAD),
    "visit.log": _may_edit_lead,  # obj: the lead
    "visit.edit": _may_edit_visit,
    "unit.view": _may_view_unit,  # obj: the township id
    "unit.stats": lambda user, township_id: user.role != OFFICER and _may_view_unit(user, township_id),
    "targets.edit": _admin,
    "targets.view": lambda user, _obj=None: user.role in (*DISTRICT_ROLES, HEAD),
    "targets.history": lambda user, township_id: user.role == ADMIN or (
        user.role == HEAD and township_id == user.township_id),
    "townships.manage": _admin,
    #: The industry list (产业目录) and sorting the 待归类 leads: admins.
    "industries.manage": _admin,
    "users.manage": _admin,
    "tokens.own": lambda user, _obj=None: True,  # every signed-in user may hold API tokens
    "tokens.manage_all": _admin,
    "bulletin.view": lambda user, _obj=None: user.role in (*DISTRICT_ROLES, HEAD),
    "screens.manage": _admin,
    "district.view": _role_in(*DISTRICT_ROLES),
    #: "My work" (我的工作 / 本单位工作) and "only mine" filters: people bound to one unit, who
    #: carry leads.
    "work.view": _role_in(*UNIT_ROLES),
    #: The phone's bottom tab bar (首页 / 我的工作 / 项目 / 记走访 / 更多): the people who work on
    #: leads in the field; the others find every page in the top bar's menu.
    "nav.tabs": _role_in(*UNIT_ROLES),
    #: The whole unit's work: heads (per-officer table, officers' names, what needs attention).
    "work.unit": _role_in(HEAD),
    #: Statistics open on the user's own unit rather than the district overview.
    "stats.unit_home": _role_in(HEAD),
    #: A head's home shows their unit's place in the district's ranking (its rank and how many
    #: units are ranked; never the other units' figures).
    "unit.rank": _role_in(HEAD),
    "imports.use": _role_in(*CREATOR_ROLES),
    #: An import job's progress (obj: the job's state): only whoever confirmed it.
    "imports.job": lambda user, job: job is not None and job.get("user_id") == user.id,
    "reminders.admin": _admin,
    "channels.manage": _admin,  # WeCom and DingTalk group robots and their message log
    "signins.view": _admin,
    "claim.view": lambda user, claim: _may_see_lead(user, claim.lead),
    "claim.submit": _may_submit_claim,
    "claim.review": _may_review_claim,
    "claims.queue": _role_in(ADMIN, REVIEWER),
    "attachment.upload": _may_edit_lead,  # obj: the lead
    "attachment.view": lambda user, attachment: _may_see_lead(user, attachment.lead),
    #: Companies: their list and page (each project on it still through ``visible_leads``).
    "company.view": lambda user, _obj=None: True,
    #: The 撞单 queue and its rulings: reviewers and admins.
    "dispute.review": _role_in(ADMIN, REVIEWER),
    #: Who is told of a ruling by mail: the heads of the two units.
    "dispute.ruling_mail": lambda user, township_id: user.role == HEAD
    and user.township_id == township_id,
    # 督办 (supervision orders): the bureau issues and closes; the unit answers.
    "supervision.list": lambda user, _obj=None: True,  # scoped by the orders' leads
    "supervision.view": lambda user, order: _may_see_lead(user, order.lead),
    "supervision.issue": _admin,  # obj: the lead
    "supervision.close": _admin,  # obj: the order
    "supervision.answer": _may_answer_order,
    # Published bulletins (通报 第N期): the whole district's frozen figures.
    "bulletins.view": _role_in(*DISTRICT_ROLES),
    "bulletins.publish": _admin,
    "reports.monthly": lambda user, _obj=None: user.role in (*DISTRICT_ROLES, HEAD),
}


def can(user: User | None, action: str, obj=None) -> bool:
    """Whether ``user`` may do ``action`` (on ``obj``). Unknown actions are refused."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    rule = RULES.get(action)
    if rule is None:
        raise KeyError(f"unknown action {action!r}")
    return bool(rule(user, obj))


def allowed(user: User | None, action: str, objs) -> list:
    """The objects of ``objs`` on which ``user`` may do ``action``: ``can`` for each, the user
    checked once (a province's 2,000 units)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return []
    rule = RULES.get(action)
    if rule is None:
        raise KeyError(f"unknown action {action!r}")
    return [obj for obj in objs if rule(user, obj)]


def visible_leads(user: User, *, merged: bool = False) -> sa.Select:
    """SELECT of the leads ``user`` may see; every list and count starts here. Leads merged
    into another by a ruling are left out unless ``merged`` (opening one by its id)."""
    return scope_leads(sa.select(Lead), user, merged=merged)


def scope_leads(stmt: sa.Select, user: User, *, merged: bool = False) -> sa.Select:
    """Restrict any statement over ``Lead`` to what ``user`` may see (without the merged
    leads unless ``merged``)."""
    if not merged:
        stmt = stmt.where(Lead.ownership != MERGED)
    if user.role in DISTRICT_ROLES:
        return stmt
    if user.township_id is None:
        return stmt.where(sa.false())
    return stmt.where(Lead.township_id == user.township_id)


def counted_leads(stmt: sa.Select, user: User) -> sa.Select:
    """Restrict a statement over ``Lead`` to the leads the statistics count for ``user``: what
    they may see, without the disputed (疑似撞单, until ruled) and merged leads."""
    return scope_leads(stmt, user).where(Lead.ownership.in_(COUNTED_OWNERSHIPS))


def visible_townships(user: User) -> sa.Select:
    stmt = sa.select(Township).order_by(Township.id)
    if user.role in DISTRICT_ROLES:
        return stmt
    return stmt.where(Township.id == user.township_id)


def unit_choices(user: User) -> list:
    """(id, name) of the units ``user`` may see, for a page's unit filter: rows, not ``Township``
    objects (a province's 2,000 on every page of a list)."""
    return db.session.execute(
        visible_townships(user).with_only_columns(Township.id, Township.name)).all()


def editable_leads(user: User) -> sa.Select:
    """SELECT of the leads ``user`` may change (the same rule as ``lead.edit``)."""
    stmt = visible_leads(user)
    if user.role in (ADMIN, HEAD):
        return stmt
    if user.role == OFFICER:
        helper = sa.select(LeadOfficer.lead_id).where(LeadOfficer.user_id == user.id)
        return stmt.where(sa.or_(Lead.primary_officer_id == user.id, Lead.id.in_(helper)))
    return stmt.where(sa.false())


def get_lead_or_404(lead_id: int, user: User, action: str | None = None, *, options=()) -> Lead:
    """Load a lead the user may see, else 404: another unit's lead does not exist for them;
    with ``action``, 403 unless the user may do it to the lead."""
    lead = db.session.scalar(
        visible_leads(user, merged=True).where(Lead.id == lead_id).options(*options)
    )
    if lead is None:
        abort(404)
    if action is not None:
        require(user, action, lead)
    return lead


def require(user: User, action: str, obj=None, *, status: int = 403) -> None:
    """``status`` unless ``can``: 403 for actions on objects the user can already see, 404 where
    even the object's existence is not the user's to know."""
    if not can(user, action, obj):
        abort(status)
