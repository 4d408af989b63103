"""Lead pages: list, detail, create, edit, stage moves, assignment, funds, blockers."""

import json

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from crm import inputs
from crm.auth.permissions import (
    can,
    get_lead_or_404,
    require,
    unit_choices,
    visible_leads,
    visible_townships,
)
from crm.auth.views import safe_next
from crm.clock import today
from crm.errors import Conflict, Forbidden
from crm.extensions import db
from crm.industries.forms import industry_choices
from crm.industries.queries import all_industries
from crm.leads import queries, services
from crm.leads.colour import COLOURS, lead_colour
from crm.leads.forms import (
    AssignForm,
    BlockerForm,
    ContactForm,
    FundForm,
    LeadForm,
    MoveForm,
    ResolveForm,
)
from crm.leads.models import KEY_LEVELS, Blocker, Lead, LeadOfficer
from crm.leads.pipeline import STAGE_LABELS, STAGES, next_stage, stage_steps
from crm.main.forms import REFUSED, attempt, flash_form_errors
from crm.paging import keep_in_range
from crm.stats.queries import lead_ids_behind
from crm.unit_of_work import discard

blueprint = Blueprint("leads", __name__, url_prefix="/leads")


def parse_filter(args) -> queries.LeadFilter:
    """The list's filters from a query string; a malformed or out-of-range value is dropped
    (a drill-down's bad year or date falls back to the default, with a warning)."""
    def int_or_none(name):
        return inputs.int_arg(args, name)

    stage = args.get("stage") or None
    township_id = int_or_none("township_id")
    return queries.LeadFilter(
        township_id=township_id,
        stage=stage if stage in (*STAGES, queries.IN_PROGRESS) else None,
        officer_id=int_or_none("officer_id"),
        industry=args.get("industry") or None,
        source=args.get("source") or None,
        color=args.get("color") if args.get("color") in COLOURS else None,
        overdue=args.get("overdue") == "1",
        scale=args.get("scale") or None,
        key_level=(args.get("key_level")
                   if args.get("key_level") in (*KEY_LEVELS, queries.KEY_PROJECTS) else None),
        q=(args.get("q") or "").strip()[:100] or None,
        sort=args.get("sort") or "updated",
        lead_ids=_behind(args, township_id),
    )


def _behind(args, township_id: int | None) -> sa.Select | None:
    """?township_id=3&metric=signed_100m&year=2026&as_of=2026-06-30: a SELECT of the ids of
    the unit's leads behind a statistic (none for a metric without a drill-down); a bad year or
    date falls back to the default (``inputs.fallback_arg``)."""
    metric = inputs.clean_text(args.get("metric") or "")[:40]
    if not metric or not township_id:
        return None
    as_of = inputs.date_or_default(args, "as_of", today(), what=_l("截至日期"))
    year = inputs.year_or_default(args, "year", as_of.year)
    ids = lead_ids_behind(current_user, metric, township_id, year, as_of)
    return ids if ids is not None else sa.select(Lead.id).where(sa.false())


@blueprint.route("/")
@login_required
def index():
    flt = parse_filter(request.args)
    page = inputs.page_arg(request.args)
    result = queries.list_leads(current_user, flt, today(), page=page, per_page=50)
    keep_in_range(result)
    townships = unit_choices(current_user)
    return render_template("leads/index.html", result=result, flt=flt, townships=townships,
                           industries=all_industries())


def _township_choices(form, may_choose: bool = False):
    """The units the user may create a lead in; when ``may_choose`` among several, the select
    starts empty (请选择单位), so the user does choose."""
    townships = db.session.scalars(visible_townships(current_user)).all()
    allowed = [t for t in townships if can(current_user, "lead.create", t.id)]
    ask = may_choose and len(allowed) > 1
    form.township_id.choices = ([(0, _("请选择单位"))] if ask else []) + [
        (t.id, t.name) for t in allowed]
    return allowed, ask


def _officer_choices(form, township_id):
    officers = queries.unit_officers(township_id) if township_id else []
    form.primary_officer_id.choices = [(0, "—")] + [(u.id, u.display_name) for u in officers]
    return officers


def _industry_choices(form, lead=None):
    form.industry.choices = industry_choices(lead)


def _lead_data(form, *, include_unit=False) -> dict:
    data = {name: getattr(form, name).data for name in services.EDITABLE_FIELDS}
    if include_unit:
        data["township_id"] = form.township_id.data
        data["stage"] = form.stage.data
        data["created_on"] = form.created_on.data
        data["primary_officer_id"] = form.primary_officer_id.data or None
    return data


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def create():
    require(current_user, "lead.new")
    form = LeadForm()
    if request.method == "GET":
        form.created_on.data = today()
        if current_user.township_id:
            form.township_id.data = current_user.township_id
            form.primary_officer_id.data = (
                current_user.id if can(current_user, "lead.assigned_to_me") else 0)
    allowed, ask = _township_choices(form, can(current_user, "lead.any_unit"))
    if not allowed:
        abort(403)
    if not ask:  # officers and heads: their own unit (or the one unit there is)
        form.township_id.data = allowed[0].id if len(allowed) == 1 else current_user.township_id
    _industry_choices(form)
    officers = _officer_choices(form, form.township_id.data)
    # the officers of every unit on offer: the page's script follows the chosen unit
    officers_by_unit = json.dumps(queries.officers_by_unit([t.id for t in allowed]),
                                  ensure_ascii=False) if ask else None
    duplicates = []
    valid = form.validate_on_submit()
    # checked with the other fields, so every mistake is said at once
    valid = (_unit_and_officer_chosen(form, officers) if form.is_submitted() else True) and valid
    if valid:
        duplicates = services.find_duplicates(form.township_id.data, form.company.data,
                                              form.credit_code.data)
        if not duplicates or request.form.get("confirm_duplicate") == "1":
            lead = attempt(form, lambda: services.create_lead(
                current_user, _lead_data(form, include_unit=True)), _("项目已创建"))
            if lead is not REFUSED:
                if lead.dispute_notice:
                    flash(lead.dispute_notice.text(), "warning")
                return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("leads/form.html", form=form, lead=None, duplicates=duplicates,
                           officers_by_unit=officers_by_unit)


def _unit_and_officer_chosen(form, officers) -> bool:
    """A unit is chosen, and the officer (if any) is one of its people; else the field says so
    (the officer select already lists the chosen unit's people)."""
    if not form.township_id.data:
        form.township_id.errors = [_("请选择单位")]
        return False
    chosen = form.primary_officer_id.data
    if chosen and chosen not in {u.id for u in officers}:
        unit = dict(form.township_id.choices).get(form.township_id.data, "")
        form.primary_officer_id.errors = [
            _("所选负责人不是%(unit)s的在岗人员，请从该单位的人员中重新选择", unit=unit)]
        form.primary_officer_id.data = 0
        return False
    return True


@blueprint.route("/<int:lead_id>")
@login_required
def show(lead_id):
    lead = get_lead_or_404(lead_id, current_user, options=[
        selectinload(Lead.helpers).joinedload(LeadOfficer.user),
        joinedload(Lead.primary_officer), selectinload(Lead.contacts),
        selectinload(Lead.blockers), joinedload(Lead.township), selectinload(Lead.stage_changes),
    ])
    colour, reasons = lead_colour(lead, today())
    from crm.claims.forms import UploadForm
    from crm.claims.queries import claims_of_lead
    from crm.companies.services import open_dispute_notice
    from crm.moveback import queries as move_back_queries
    from crm.moveback import services as move_back
    from crm.moveback.forms import DecideForm, RequestForm
    from crm.permits.forms import DoneForm, PermitForm
    from crm.supervision.queries import list_orders
    from crm.visits.forms import new_visit_form

    visit_form = new_visit_form(visited_on=today())
    moves = services.allowed_moves(current_user, lead)
    move_form = MoveForm(version=lead.version, on=today(), to=default_target(lead, moves))
    back_targets = move_back.back_targets(current_user, lead)
    request_form = RequestForm(formdata=None, on=today(),
                               to_stage=back_targets[-1] if back_targets else None)
    request_form.to_stage.choices = [(s, STAGE_LABELS[s]) for s in back_targets]
    return render_template(
        "leads/show.html", lead=lead, colour=colour, reasons=reasons,
        claims=claims_of_lead(lead), upload_form=UploadForm(),
        orders=list_orders(current_user, lead_id=lead.id),
        timeline=queries.timeline(lead), funds=queries.fund_entries(lead),
        visit_form=visit_form, move_form=move_form, fund_form=FundForm(arrived_on=today()),
        moves=moves,
        stepper=stage_steps(lead.stage, [(c.to_stage, c.effective_on) for c in lead.stage_changes]),
        back_targets=back_targets, request_form=request_form, decide_form=DecideForm(formdata=None),
        move_requests=move_back_queries.of_lead(lead),
        blocker_form=BlockerForm(), resolve_form=ResolveForm(), contact_form=ContactForm(),
        permit_form=PermitForm(), permit_done_form=DoneForm(done_on=today()),
        dispute_notice=open_dispute_notice(lead),
        # the lead a merged one lives on in, linked only for those who may see it
        merged_into=db.session.scalar(visible_leads(current_user).where(
            Lead.id == lead.merged_into_id)) if lead.merged_into_id else None,
    )


@blueprint.route("/<int:lead_id>/edit", methods=["GET", "POST"])
@login_required
def edit(lead_id):
    lead = get_lead_or_404(lead_id, current_user, "lead.edit")
    form = LeadForm(obj=lead)
    form.kept_follow_up = lead.next_follow_up
    del form.township_id, form.stage, form.created_on, form.primary_officer_id
    _industry_choices(form, lead)
    if request.method == "GET":
        form.version.data = lead.version
    conflict = None
    if form.validate_on_submit():
        try:
            saved = attempt(form, lambda: services.update_lead(
                current_user, lead, _lead_data(form), _version(form)), _("已保存"), raising=(Conflict,))
        except Conflict as exc:
            discard()
            conflict = exc
            flash(str(exc.message), "error")
            # The user has now seen what changed; saving again is a deliberate choice.
            form.version.data = db.session.get(Lead, lead_id).version
        else:
            if saved is not REFUSED:
                if lead.dispute_notice:
                    flash(lead.dispute_notice.text(), "warning")
                return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("leads/form.html", form=form, lead=lead, duplicates=[],
                           conflict=conflict)


@blueprint.route("/<int:lead_id>/move", methods=["GET", "POST"])
@login_required
def move(lead_id):
    """The move form: only the moves the user may make are offered. A move refused all the
    same (a stale page, a dragged card) re-shows the form with the reason and what was typed,
    and, for an officer's move back, the 申请退回 form filled in with it."""
    lead = get_lead_or_404(lead_id, current_user, options=[selectinload(Lead.stage_changes)])
    moves = services.allowed_moves(current_user, lead)
    form = MoveForm()
    asked = None
    if request.method == "GET":
        form.to.data = default_target(lead, moves, request.args.get("to"))
        form.on.data = today()
        form.version.data = lead.version
    elif form.validate_on_submit():
        try:
            moved = attempt(form, lambda: services.move_stage(
                current_user, lead, form.to.data, on=form.on.data, reason=form.reason.data,
                lost_reason=form.lost_reason.data or None, version=_version(form),
            ), _("阶段已变更"), raising=(Forbidden,))
        except Forbidden as exc:
            discard()
            lead = get_lead_or_404(lead_id, current_user)
            form.to.errors = [*form.to.errors, *[str(m) for m in exc.fields.get("to", [])]] \
                or [str(exc.message)]
            asked = (form.to.data, form.reason.data, form.on.data)
        else:
            if moved is not REFUSED:
                return redirect(safe_next(request.form.get("back")) if request.form.get("back")
                                else url_for("leads.show", lead_id=lead.id))
    status = 200 if request.method == "GET" else 422
    if not can(current_user, "lead.move", lead):
        status = 403  # the page says why, with what was typed; never a bare error page
    moves = services.allowed_moves(current_user, lead)
    if asked is not None:  # the refused stage is not offered: the form starts on an allowed one
        form.to.data = default_target(lead, moves)
    return move_page(lead, form, moves, status, asked)


def default_target(lead, moves, wanted: str | None = None) -> str | None:
    """The stage a move form starts on: the one asked for if allowed, else the usual next
    step if allowed, else the first allowed."""
    targets = [m.to_stage for m in moves]
    for stage in (wanted, next_stage(lead.stage)):
        if stage in targets:
            return stage
    return targets[0] if targets else None


def move_page(lead, form, moves, status, asked=None, request_form=None):
    """The move page: ``moves`` offered in ``form``; the 申请退回 form for an officer who may
    ask (``asked``: a refused move back's stage, reason and date, to fill it in with)."""
    from crm.moveback import services as move_back
    from crm.moveback.forms import RequestForm

    back_targets = move_back.back_targets(current_user, lead)
    if request_form is None:
        request_form = RequestForm(formdata=None)
        to, reason, on = asked or (None, "", None)
        request_form.to_stage.data = to if to in back_targets else (
            back_targets[-1] if back_targets else None)
        request_form.reason.data = reason or ""
        request_form.on.data = on or today()
    request_form.to_stage.choices = [(s, STAGE_LABELS[s]) for s in back_targets]
    return render_template(
        "leads/move.html", form=form, lead=lead, moves=moves, request_form=request_form,
        back_targets=back_targets, pending_request=move_back.pending_for(lead),
        may_move=can(current_user, "lead.move", lead),
        back_url=request.form.get("back") or "",
    ), status


@blueprint.route("/<int:lead_id>/assign", methods=["GET", "POST"])
@login_required
def assign(lead_id):
    lead = get_lead_or_404(lead_id, current_user, "lead.assign",
                           options=[selectinload(Lead.helpers)])
    form = AssignForm()
    officers = queries.unit_officers(lead.township_id)
    choices = [(u.id, u.display_name) for u in officers]
    form.primary_officer_id.choices = [(0, "—"), *choices]
    form.helper_ids.choices = choices
    if request.method == "GET":
        form.primary_officer_id.data = lead.primary_officer_id or 0
        form.helper_ids.data = [h.user_id for h in lead.helpers]
        form.sponsor.data = lead.sponsor
    if form.validate_on_submit():
        saved = attempt(form, lambda: services.assign(
            current_user, lead, form.primary_officer_id.data or None, form.helper_ids.data,
            form.sponsor.data), _("已保存"))
        if saved is not REFUSED:
            return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("leads/assign.html", form=form, lead=lead)


def _version(form) -> int | None:
    """The version the form was read at (an edit or a move based on a stale page is refused)."""
    version = form.version.data
    return int(version) if str(version).isdigit() else None


def _post_on_lead_page(lead, form, action, success, anchor):
    """A small form posted from the lead page: run the service, back to the page."""
    if form.validate_on_submit():
        attempt(None, action, success)
    else:
        flash_form_errors(form)
    return redirect(url_for("leads.show", lead_id=lead.id) + anchor)


def _lead_page_form(action: str, form_class, service, success, anchor: str):
    """The view of a small form on the lead page: the lead in sight, ``action`` allowed, then
    ``service(lead, form)``."""
    def view(lead_id):
        lead, form = get_lead_or_404(lead_id, current_user, action), form_class()
        return _post_on_lead_page(lead, form, lambda: service(lead, form), str(success), anchor)
    return login_required(view)


blueprint.add_url_rule("/<int:lead_id>/funds", "add_funds", _lead_page_form(
    "lead.funds", FundForm,
    lambda lead, f: services.add_funds(current_user, lead, f.arrived_on.data, f.amount_wan.data),
    _l("到位资金已登记"), "#funds"), methods=["POST"])
blueprint.add_url_rule("/<int:lead_id>/contacts", "add_contact", _lead_page_form(
    "lead.edit", ContactForm,
    lambda lead, f: services.add_contact(current_user, lead, f.name.data, f.title.data,
                                         f.phone.data),
    _l("联系人已添加"), "#facts"), methods=["POST"])
blueprint.add_url_rule("/<int:lead_id>/blockers", "add_blocker", _lead_page_form(
    "lead.blockers", BlockerForm,
    lambda lead, f: services.add_blocker(current_user, lead, f.kind.data, f.description.data,
                                         f.owner.data or ""),
    _l("问题已登记"), "#blockers"), methods=["POST"])


@blueprint.route("/<int:lead_id>/blockers/<int:blocker_id>/resolve", methods=["POST"])
@login_required
def resolve_blocker(lead_id, blocker_id):
    lead = get_lead_or_404(lead_id, current_user)
    blocker = db.session.scalar(
        sa.select(Blocker).where(Blocker.id == blocker_id, Blocker.lead_id == lead.id)
    )
    if blocker is None:
        abort(404)
    require(current_user, "lead.blockers", lead)
    form = ResolveForm()
    return _post_on_lead_page(
        lead, form,
        lambda: services.resolve_blocker(current_user, blocker, form.resolution.data),
        _("问题已标记为解决"), "#blockers",
    )

