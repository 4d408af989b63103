"""Keeping the industry list (admins) and sorting the 待归类 leads in bulk.

Services flush and never commit; every change is audited.
"""

import re

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm import audit
from crm.auth.permissions import can
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.industries import initial, lookup
from crm.industries.models import ALIAS_SEPARATOR, Industry
from crm.inputs import clean_text, has_visible
from crm.leads.models import Lead
from crm.leads.services import bump

#: What separates aliases typed into one box: lines, commas, 、 and semicolons (not "/",
#: which aliases such as 新能源/光伏 contain).
_ALIAS_SPLIT = re.compile(r"[\n\r,，、;；]+")
NAME_MAX = 64


def parse_aliases(text: str | list | None) -> list[str]:
    """Aliases as typed (one a line, or separated by commas or 、), trimmed, duplicates dropped."""
    parts = text if isinstance(text, list | tuple) else _ALIAS_SPLIT.split(text or "")
    seen, out = set(), []
    for part in parts:
        alias = clean_text(part or "").strip()
        if alias and lookup.key(alias) not in seen:
            seen.add(lookup.key(alias))
            out.append(alias)
    return out


def _check(industry: Industry | None, name: str, chain: str, aliases: list[str]) -> None:
    errors: dict[str, list] = {}
    if not has_visible(name):
        errors["name"] = [_l("请填写产业名称")]
    elif len(name) > NAME_MAX:
        errors["name"] = [_l("不超过64个字符")]
    elif lookup.is_unsorted(name):
        errors["name"] = [_l("“待归类”是保留名称")]
    if len(chain) > NAME_MAX:
        errors["chain"] = [_l("不超过64个字符")]
    if any(len(a) > NAME_MAX for a in aliases):
        errors["aliases"] = [_l("每个别名不超过64个字符")]
    elif any(lookup.is_unsorted(a) for a in aliases):
        errors["aliases"] = [_l("“待归类”是保留名称")]
    index = lookup.IndustryIndex.load()
    own = industry.id if industry is not None else None
    if "name" not in errors:
        other = index.find(name)
        if other is not None and other.id != own:
            errors["name"] = [_l("与“%(other)s”的名称或别名重复", other=other.name)]
    clashes = [a for a in aliases
               if (o := index.find(a)) is not None and o.id != own] + \
              [a for a in aliases if lookup.key(a) == lookup.key(name)]
    if clashes and "aliases" not in errors:
        errors["aliases"] = [_l("别名与其他产业的名称或别名重复：%(a)s", a="、".join(clashes))]
    if errors:
        raise DomainError(_l("请检查填写的内容"), errors)


def create_industry(user, name: str, chain: str = "", aliases=None, sort_order: int | None = None,
                    active: bool = True) -> Industry:
    if not can(user, "industries.manage"):
        raise Forbidden(_l("仅区招商局可维护产业目录"))
    name, chain = clean_text(name or "").strip(), clean_text(chain or "").strip()
    alias_list = parse_aliases(aliases)
    _check(None, name, chain, alias_list)
    if sort_order is None:
        sort_order = (db.session.scalar(sa.select(sa.func.max(Industry.sort_order))) or 0) + 10
    industry = Industry(name=name, chain=chain, aliases=ALIAS_SEPARATOR.join(alias_list),
                        sort_order=sort_order, active=active)
    db.session.add(industry)
    db.session.flush()
    audit.record(user, "industry.create", industry, changes={
        "name": [None, name], "chain": [None, chain], "aliases": [None, alias_list]})
    return industry


def update_industry(user, industry: Industry, *, name: str, chain: str, aliases, sort_order: int,
                    active: bool) -> Industry:
    if not can(user, "industries.manage"):
        raise Forbidden(_l("仅区招商局可维护产业目录"))
    name, chain = clean_text(name or "").strip(), clean_text(chain or "").strip()
    alias_list = parse_aliases(aliases)
    _check(industry, name, chain, alias_list)
    new = {"name": name, "chain": chain, "aliases": ALIAS_SEPARATOR.join(alias_list),
           "sort_order": sort_order, "active": active}
    changes = audit.apply_changes(industry, new)
    if changes:
        db.session.flush()
        audit.record(user, "industry.edit", industry, changes=changes)
    return industry


def sort_unsorted(user, text: str, industry_id: int) -> int:
    """Give every 待归类 lead whose industry text is ``text`` the industry ``industry_id``; their
    text stays as it is. Returns how many leads were sorted."""
    if not can(user, "industries.manage"):
        raise Forbidden(_l("仅区招商局可维护产业目录"))
    industry = db.session.get(Industry, industry_id) if industry_id else None
    if industry is None or not industry.active:
        raise DomainError(_l("请选择产业"), {"industry_id": [_l("请选择产业")]})
    leads = db.session.scalars(
        sa.select(Lead).where(Lead.industry_id.is_(None), Lead.industry_text == text)
        .order_by(Lead.id))
    n = 0
    for lead in leads:
        lead.industry_id = industry.id
        bump(lead)
        audit.record(user, "lead.edit", lead, lead_id=lead.id,
                     changes={"industry": [initial.UNSORTED, industry.name]})
        n += 1
    db.session.flush()
    return n


def seed_industries() -> int:
    """Insert the initial list (crm/industries/initial.py) into an empty table, as migration
    0012 does; for databases made without the migrations (the demo, the tests). Returns how
    many were added."""
    if db.session.scalar(sa.select(sa.func.count(Industry.id))):
        return 0
    for n, (chain, name, aliases) in enumerate(initial.INDUSTRIES, start=1):
        db.session.add(Industry(name=name, chain=chain, aliases=ALIAS_SEPARATOR.join(aliases),
                                sort_order=n * 10, active=True))
    db.session.flush()
    return len(initial.INDUSTRIES)
