"""Lead pages: list, detail, create, edit, stage moves, assignment, funds, blockers."""


import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from crm import inputs
from crm.auth.permissions import can, get_lead_or_404, require, visible_townships
from crm.auth.views import safe_next
from crm.clock import today
from crm.errors import Conflict, DomainError, Forbidden
from crm.extensions import db
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
from crm.leads.models import Blocker, Lead, LeadOfficer
from crm.leads.pipeline import STAGES, next_stage
from crm.stats.queries import lead_ids_behind
from crm.unit_of_work import discard

blueprint = Blueprint("leads", __name__, url_prefix="/leads")


def form_errors(form, exc: DomainError) -> None:
    """Put a domain error's field messages on the form (the rest as a flash); 403 if forbidden.
    The refused change is discarded: the request commits nothing."""
    discard()
    if isinstance(exc, Forbidden):
        abort(403)
    placed = False
    for name, messages in exc.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + [str(m) for m in messages]
            placed = True
    if not placed or not exc.fields:
        flash(str(exc.message), "error")


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
    return render_template("leads/index.html", result=result, flt=flt, townships=townships)


def _township_choices(form):
    townships = db.session.scalars(visible_townships(current_user)).all()
    allowed = [t for t in townships if can(current_user, "lead.create", t.id)]
    form.township_id.choices = [(t.id, t.name) for t in allowed]
    return allowed


def _officer_choices(form, township_id):
    officers = queries.unit_officers(township_id) if township_id else []
    form.primary_officer_id.choices = [(0, "—")] + [(u.id, u.display_name) for u in officers]
    return officers


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
            try:
                lead = services.create_lead(current_user, _lead_data(form, include_unit=True))
            except DomainError as exc:
                form_errors(form, exc)
            else:
                flash(_("项目已创建"), "success")
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
    from crm.supervision.queries import list_orders
    from crm.visits.forms import VisitForm

    visit_form = VisitForm(visited_on=today())
    move_form = MoveForm(version=lead.version, on=today())
    return render_template(
        "leads/show.html", lead=lead, colour=colour, reasons=reasons,
        claims=claims_of_lead(lead), upload_form=UploadForm(),
        orders=list_orders(current_user, lead_id=lead.id),
        timeline=queries.timeline(lead), funds=queries.fund_entries(lead),
        visit_form=visit_form, move_form=move_form, fund_form=FundForm(arrived_on=today()),
        blocker_form=BlockerForm(), resolve_form=ResolveForm(), contact_form=ContactForm(),
    )


@blueprint.route("/<int:lead_id>/edit", methods=["GET", "POST"])
@login_required
def edit(lead_id):
    lead = get_lead_or_404(lead_id, current_user)
    require(current_user, "lead.edit", lead)
    form = LeadForm(obj=lead)
    del form.township_id, form.stage, form.created_on, form.primary_officer_id
    if request.method == "GET":
        form.version.data = lead.version
    conflict = None
    if form.validate_on_submit():
        version = form.version.data
        try:
            services.update_lead(current_user, lead, _lead_data(form),
                                 int(version) if str(version).isdigit() else None)
        except Conflict as exc:
            discard()
            conflict = exc
            flash(str(exc.message), "error")
            # The user has now seen what changed; saving again is a deliberate choice.
            form.version.data = db.session.get(Lead, lead_id).version
        except DomainError as exc:
            form_errors(form, exc)
        else:
            flash(_("已保存"), "success")
            return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("leads/form.html", form=form, lead=lead, duplicates=[],
                           conflict=conflict)


@blueprint.route("/<int:lead_id>/move", methods=["GET", "POST"])
@login_required
def move(lead_id):
    lead = get_lead_or_404(lead_id, current_user, options=[selectinload(Lead.stage_changes)])
    require(current_user, "lead.move", lead)
    form = MoveForm()
    if request.method == "GET":
        form.to.data = request.args.get("to") or next_stage(lead.stage)
        form.on.data = today()
        form.version.data = lead.version
    if form.validate_on_submit():
        version = form.version.data
        try:
            services.move_stage(
                current_user, lead, form.to.data, on=form.on.data, reason=form.reason.data,
                lost_reason=form.lost_reason.data or None,
                version=int(version) if str(version).isdigit() else None,
            )
        except DomainError as exc:
            form_errors(form, exc)
        else:
            flash(_("阶段已变更"), "success")
            return redirect(safe_next(request.form.get("back")) if request.form.get("back")
                            else url_for("leads.show", lead_id=lead.id))
    status = 422 if request.method == "POST" else 200
    return render_template("leads/move.html", form=form, lead=lead), status


@blueprint.route("/<int:lead_id>/assign", methods=["GET", "POST"])
@login_required
def assign(lead_id):
    lead = get_lead_or_404(lead_id, current_user, options=[selectinload(Lead.helpers)])
    require(current_user, "lead.assign", lead)
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
        try:
            services.assign(current_user, lead, form.primary_officer_id.data or None,
                            form.helper_ids.data, form.sponsor.data)
        except DomainError as exc:
            form_errors(form, exc)
        else:
            flash(_("已保存"), "success")
            return redirect(url_for("leads.show", lead_id=lead.id))
    return render_template("leads/assign.html", form=form, lead=lead)


def _post_on_lead_page(lead, form, action, success, anchor):
    """A small form posted from the lead page: run the service, commit, back to the page."""
    if form.validate_on_submit():
        try:
            action()
        except DomainError as exc:
            form_errors(None, exc)
        else:
            flash(success, "success")
    else:
        _flash_form_errors(form)
    return redirect(url_for("leads.show", lead_id=lead.id) + anchor)


@blueprint.route("/<int:lead_id>/funds", methods=["POST"])
@login_required
def add_funds(lead_id):
    lead = get_lead_or_404(lead_id, current_user)
    require(current_user, "lead.funds", lead)
    form = FundForm()
    return _post_on_lead_page(
        lead, form,
        lambda: services.add_funds(current_user, lead, form.arrived_on.data, form.amount_wan.data),
        _("到位资金已登记"), "#funds",
    )


@blueprint.route("/<int:lead_id>/contacts", methods=["POST"])
@login_required
def add_contact(lead_id):
    lead = get_lead_or_404(lead_id, current_user)
    require(current_user, "lead.edit", lead)
    form = ContactForm()
    return _post_on_lead_page(
        lead, form,
        lambda: services.add_contact(current_user, lead, form.name.data, form.title.data,
                                     form.phone.data),
        _("联系人已添加"), "#facts",
    )


@blueprint.route("/<int:lead_id>/blockers", methods=["POST"])
@login_required
def add_blocker(lead_id):
    lead = get_lead_or_404(lead_id, current_user)
    require(current_user, "lead.blockers", lead)
    form = BlockerForm()
    return _post_on_lead_page(
        lead, form,
        lambda: services.add_blocker(current_user, lead, form.kind.data, form.description.data,
                                     form.owner.data or ""),
        _("问题已登记"), "#blockers",
    )


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


def _flash_form_errors(form) -> None:
    for field, messages in form.errors.items():
        label = getattr(form, field).label.text if hasattr(form, field) else field
        for message in messages:
            flash(f"{label}：{message}", "error")
