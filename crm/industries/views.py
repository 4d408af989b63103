"""The industry list's pages (admins): the list, add and edit, and sorting 待归类 leads in bulk."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.auth.permissions import require
from crm.errors import DomainError
from crm.extensions import db
from crm.industries import queries, services
from crm.industries.forms import IndustryForm, SortForm
from crm.industries.models import Industry
from crm.main.forms import form_errors

blueprint = Blueprint("industries", __name__, url_prefix="/admin/industries")


@blueprint.route("/", methods=["GET", "POST"])
@login_required
def index():
    require(current_user, "industries.manage")
    form = IndustryForm()
    if form.validate_on_submit():
        try:
            industry = services.create_industry(
                current_user, form.name.data, form.chain.data, form.aliases.data,
                form.sort_order.data, bool(form.active.data))
        except DomainError as exc:
            form_errors(form, exc, default="name")
        else:
            flash(_("已添加产业“%(name)s”", name=industry.name), "success")
            return redirect(url_for("industries.index"))
    industries = queries.all_industries()
    return render_template(
        "industries/index.html", form=form, groups=queries.chain_groups(industries, active_only=False),
        usage=queries.usage(), unsorted=sum(n for _t, n in queries.unsorted_texts()))


@blueprint.route("/<int:industry_id>/edit", methods=["GET", "POST"])
@login_required
def edit(industry_id: int):
    require(current_user, "industries.manage")
    industry = db.get_or_404(Industry, industry_id)
    form = IndustryForm(obj=industry, aliases="\n".join(industry.alias_list))
    if form.validate_on_submit():
        try:
            services.update_industry(
                current_user, industry, name=form.name.data, chain=form.chain.data,
                aliases=form.aliases.data, sort_order=form.sort_order.data or 0,
                active=bool(form.active.data))
        except DomainError as exc:
            form_errors(form, exc, default="name")
        else:
            flash(_("已保存"), "success")
            return redirect(url_for("industries.index"))
    return render_template("industries/form.html", form=form, industry=industry)


@blueprint.route("/unsorted", methods=["GET", "POST"])
@login_required
def unsorted():
    require(current_user, "industries.manage")
    form = SortForm()
    industries = queries.all_industries()
    if form.validate_on_submit():
        try:
            n = services.sort_unsorted(current_user, form.text.data, form.industry_id.data)
        except DomainError as exc:
            form_errors(form, exc, default="industry_id")
        else:
            flash(_("已将 %(n)s 个项目归入所选产业", n=n), "success")
            return redirect(url_for("industries.unsorted"))
    return render_template(
        "industries/unsorted.html", form=form, texts=queries.unsorted_texts(),
        groups=queries.chain_groups(industries))
