"""The targets pages: the yearly grid (admins edit it, heads and viewers read it), and history."""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm import inputs
from crm.auth.permissions import can, require, visible_townships
from crm.clock import today
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.targets import services
from crm.targets.forms import CopyForm, cell_name, grid_form
from crm.targets.models import METRIC_LABELS, METRICS, RATE_METRICS, Target
from crm.townships.models import Township
from crm.unit_of_work import discard

blueprint = Blueprint("targets", __name__, url_prefix="/targets")

def _year(value) -> int:
    """The year asked for (this year by default); 404 outside what targets may have."""
    if value in (None, ""):
        return today().year
    try:
        year = int(value)
    except (TypeError, ValueError):
        abort(404)
    if services.year_problem(year) is not None:
        abort(404)
    return year


def _year_choices(year: int) -> list[int]:
    this = today().year
    with_targets = db.session.scalars(sa.select(Target.year).distinct()).all()
    return sorted({*range(this - 3, this + 2), *with_targets, year}, reverse=True)


def _place_errors(form, township_id: int, exc: DomainError) -> None:
    """A service's per-metric messages go on that unit's cells; anything else is flashed."""
    for name, messages in exc.fields.items():
        if name in METRICS:
            field = form.cell(township_id, name)
            field.errors = list(field.errors) + [str(m) for m in messages]
        else:
            for message in messages:
                flash(str(message), "error")


def _by_unit(targets) -> dict[int, dict]:
    values: dict[int, dict] = {}
    for target in targets:
        values.setdefault(target.township_id, {})[target.metric] = target.value
    return values


def _save(form, year: int, before: dict[int, dict]) -> bool:
    """Every unit's cells, all or nothing. True when saved."""
    changed = 0
    for township_id, values in form.values().items():
        try:
            saved = services.set_targets(current_user, township_id, year, values)
        except DomainError as exc:
            discard()
            if isinstance(exc, Forbidden):
                abort(403)
            _place_errors(form, township_id, exc)
            return False
        changed += _by_unit(saved).get(township_id, {}) != before.get(township_id, {})
    if changed:
        flash(_("%(year)s 年目标已保存（%(n)s 个单位有变动）", year=year, n=changed), "success")
    else:
        flash(_("目标没有变动"), "info")
    return True


@blueprint.route("/", methods=["GET", "POST"])
@login_required
def index():
    require(current_user, "targets.view")
    editable = can(current_user, "targets.edit")
    if request.method == "POST" and not editable:
        abort(403)
    year = (_year(request.form.get("year")) if request.method == "POST"
            else inputs.year_or_default(request.args, "year", today().year))
    townships = db.session.scalars(visible_townships(current_user)).all()
    targets = services.targets_for(current_user, year)
    context = dict(
        year=year, years=_year_choices(year), townships=townships, editable=editable,
        METRICS=METRICS, METRIC_LABELS=METRIC_LABELS, cell_name=cell_name,
        RATE_METRICS=RATE_METRICS,
        history_ids={t.id for t in townships if can(current_user, "targets.history", t.id)},
    )
    before = _by_unit(targets)
    if not editable:
        due_dates: dict[int, dict] = {}
        for target in targets:
            if target.due_on:
                due_dates.setdefault(target.township_id, {})[target.metric] = target.due_on
        return render_template("targets/index.html", values=before, due_dates=due_dates,
                               **context)

    form = grid_form(townships, year, targets)
    status = 200
    if form.is_submitted():
        if form.validate() and _save(form, year, before):
            return redirect(url_for("targets.index", year=year))
        status = 422
        if "csrf_token" in form.errors:
            flash(_("页面已过期，请刷新后重新填写"), "error")
        bad = form.cell_errors()
        if bad:
            flash(_("有 %(n)s 个单元格填写有误，目标均未保存，请修改标红的单元格", n=bad), "error")
    copy_form = CopyForm(year=year)
    return render_template("targets/index.html", form=form, copy_form=copy_form,
                           has_previous=_has_targets(year - 1), **context), status


def _has_targets(year: int) -> bool:
    return db.session.scalar(sa.select(sa.func.count(Target.id)).where(Target.year == year)) > 0


@blueprint.route("/copy", methods=["POST"])
@login_required
def copy():
    require(current_user, "targets.edit")
    form = CopyForm()
    if not form.validate_on_submit():
        flash(_("请求有误，请刷新页面后重试"), "error")
        return redirect(url_for("targets.index"))
    year = form.year.data
    if not _has_targets(year - 1):
        flash(_("%(year)s 年没有可复制的目标", year=year - 1), "warning")
        return redirect(url_for("targets.index", year=year))
    try:
        written = services.copy_year(current_user, year - 1, year, overwrite=form.overwrite.data)
    except DomainError as exc:
        discard()
        if isinstance(exc, Forbidden):
            abort(403)
        flash(str(exc.message), "error")
        return redirect(url_for("targets.index", year=year))
    if written:
        flash(_("已将 %(from)s 年的 %(n)s 项目标复制到 %(to)s 年",
                **{"from": year - 1, "n": written, "to": year}), "success")
    else:
        flash(_("%(year)s 年已有全部目标，未作更改；如需替换，请勾选“覆盖本年已设置的目标”",
                year=year), "info")
    return redirect(url_for("targets.index", year=year))


@blueprint.route("/history/<int:township_id>")
@login_required
def history(township_id):
    township = db.session.scalar(
        visible_townships(current_user).where(Township.id == township_id))
    if township is None:
        abort(404)
    require(current_user, "targets.history", township_id)
    return render_template("targets/history.html", township=township,
                           entries=services.history(township_id), METRIC_LABELS=METRIC_LABELS,
                           RATE_METRICS=RATE_METRICS)
