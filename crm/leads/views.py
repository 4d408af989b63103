"""Lead pages: list, detail, create, edit, stage moves, assignment, funds, blockers."""


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
    visible_leads,
    visible_townships,
)
from crm.auth.views import safe_next
from crm.clock import today
from crm.errors import Conflict
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
from crm.leads.pipeline import STAGES, next_stage
from crm.main.forms import REFUSED, attempt, flash_form_errors
from crm.stats.queries import lead_ids_behind
from crm.unit_of_work import discard

blueprint = Blueprint("leads", __name__, url_prefix="/leads")


def parse_filter(args, problems: list | None = None) -> queries.LeadFilter:
    """The list's filters from a query string; a malformed or out-of-range value is dropped
    (and, for a drill-down, its reason added to ``problems``)."""
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
        lead_ids=_behind(args, township_id, problems if problems is not None else []),
    )


def _behind(args, township_id: int | None, problems: list) -> sa.Select | None:
    """?township_id=3&metric=signed_100m&year=2026&as_of=2026-06-30: a SELECT of the ids of
    the unit's leads behind a statistic (none for a metric without a drill-down); a bad year or
    date is added to ``problems``."""
    metric = inputs.clean_text(args.get("metric") or "")[:40]
    if not metric or not township_id:
        return None
    try:
        year = inputs.to_year(args.get("year", ""))
        as_of = inputs.date_arg(args, "as_of") or today()
    except inputs.Invalid as exc:
        problems.append(exc.message)
        return None
    ids = lead_ids_behind(current_user, metric, township_id, year, as_of)
    return ids if ids is not None else sa.select(Lead.id).where(sa.false())


@blueprint.route("/")
@login_required
def index():
    problems: list = []
    flt = parse_filter(request.args, problems)
    for problem in problems:
        flash(_("统计明细的参数无效：%(why)s", why=problem), "warning")
    page = inputs.page_arg(request.args)
    result = queries.list_leads(current_user, flt, today(), page=page, per_page=50)
    townships = db.session.scalars(visible_townships(current_user)).all()
    return render_template("leads/index.html", result=result, flt=flt, townships=townships,
                           industries=all_industries())


def _township_choices(form):
    townships = db.session.scalars(visible_townships(current_user)).all()
    allowed = [t for t in townships if can(current_user, "lead.create", t.id)]
    form.township_id.choices = [(t.id, t.name) for t in allowed]
    return allowed


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
    if not can(current_user, "lead.new"):
        abort(403)
    form = LeadForm()
    if request.method == "GET":
        form.created_on.data = today()
        if current_user.township_id:
            form.township_id.data = current_user.township_id
            form.primary_officer_id.data = (
                current_user.id if can(current_user, "lead.assigned_to_me") else 0)
    if not _township_choices(form):
        abort(403)
    _industry_choices(form)
    if not can(current_user, "lead.any_unit"):
        form.township_id.data = current_user.township_id  # officers and heads: their own unit
    _officer_choices(form, form.township_id.data or current_user.township_id
                     or form.township_id.choices[0][0])
    duplicates = []
    if form.validate_on_submit():
        duplicates = services.find_duplicates(form.township_id.data, form.company.data,
                                              form.credit_code.data)
        if duplicates and request.form.get("confirm_duplicate") != "1":
            flash(_("本单位已有相同投资方或统一社会信用代码的项目，请确认不是重复录入。"), "warning")
        else:
            lead = attempt(form, lambda: services.create_lead(
                current_user, _lead_data(form, include_unit=True)), _("项目已创建"))
            if lead is not REFUSED:
                if lead.dispute_notice:
                    flash(lead.dispute_notice.text(), "warning")
                return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("leads/form.html", form=form, lead=None, duplicates=duplicates)


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
    from crm.permits.forms import DoneForm, PermitForm
    from crm.supervision.queries import list_orders
    from crm.visits.forms import new_visit_form

    visit_form = new_visit_form(visited_on=today())
    move_form = MoveForm(version=lead.version, on=today())
    return render_template(
        "leads/show.html", lead=lead, colour=colour, reasons=reasons,
        claims=claims_of_lead(lead), upload_form=UploadForm(),
        orders=list_orders(current_user, lead_id=lead.id),
        timeline=queries.timeline(lead), funds=queries.fund_entries(lead),
        visit_form=visit_form, move_form=move_form, fund_form=FundForm(arrived_on=today()),
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
    lead = get_lead_or_404(lead_id, current_user, "lead.move",
                           options=[selectinload(Lead.stage_changes)])
    form = MoveForm()
    if request.method == "GET":
        form.to.data = request.args.get("to") or next_stage(lead.stage)
        form.on.data = today()
        form.version.data = lead.version
    if form.validate_on_submit():
        moved = attempt(form, lambda: services.move_stage(
            current_user, lead, form.to.data, on=form.on.data, reason=form.reason.data,
            lost_reason=form.lost_reason.data or None, version=_version(form),
        ), _("阶段已变更"))
        if moved is not REFUSED:
            return redirect(safe_next(request.form.get("back")) if request.form.get("back")
                            else url_for("leads.show", lead_id=lead.id))
    status = 422 if request.method == "POST" else 200
    return render_template("leads/move.html", form=form, lead=lead), status


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

