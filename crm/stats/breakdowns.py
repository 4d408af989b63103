"""Breakdowns of a unit's year by 产业链 and industry, source and officer, and its weekly moves.

Like ``queries``: grouped SQL over the leads the user may see, a fixed number of queries whatever
the number of leads. ``township_id=None`` covers every unit the user may see.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from crm.auth.models import UNIT_ROLES, User
from crm.auth.permissions import counted_leads, visible_townships
from crm.extensions import db
from crm.industries.initial import UNSORTED
from crm.industries.models import Industry
from crm.leads.models import Lead, StageChange
from crm.leads.pipeline import STAGES
from crm.stats.queries import first_entries
from crm.stats.results import default_basis
from crm.townships.models import Township
from crm.visits.models import Visit


@dataclass
class Counts:
    """Leads created in the period, leads that first entered signed in it, and their investment."""

    created: int = 0
    signed: int = 0
    signed_investment_wan: Decimal = Decimal(0)

    def add(self, other: "Counts") -> None:
        self.created += other.created
        self.signed += other.signed
        self.signed_investment_wan += other.signed_investment_wan


@dataclass(kw_only=True)
class GroupRow(Counts):
    """One industry or source."""

    key: str


@dataclass(kw_only=True)
class IndustryRow(GroupRow):
    """One managed industry (or 待归类, or none) within its 产业链."""

    chain: str


@dataclass(kw_only=True)
class ChainRow(Counts):
    """One 产业链: its subtotal and its industries' rows."""

    chain: str
    industries: list[IndustryRow] = field(default_factory=list)


@dataclass
class OfficerRow:
    """One officer: leads as primary officer, visits logged, and stage moves in the period
    credited to them (they were the lead's primary officer at the time of the move)."""

    user_id: int | None
    name: str = ""
    #: An officer or head of the unit (not an admin who logged something there).
    member: bool = False
    leads: int = 0
    visits: int = 0
    moves: int = 0


@dataclass
class Breakdowns:
    by_industry: list[ChainRow]
    by_source: list[GroupRow]
    by_officer: list[OfficerRow]


@dataclass
class WeekMoves:
    """The stage entries of one ISO week (Monday to Sunday, the last one cut at the as-of date)."""

    monday: dt.date
    counts: dict = field(default_factory=lambda: dict.fromkeys(STAGES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def period(year: int, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """1 January of ``year`` up to the as-of date (or 31 December for a past year)."""
    return dt.date(year, 1, 1), min(as_of, dt.date(year, 12, 31))


def scoped(stmt: sa.Select, user: User, township_id: int | None) -> sa.Select:
    """``stmt`` over the leads that count for ``user``, in one unit when ``township_id``."""
    stmt = counted_leads(stmt, user)
    if township_id is not None:
        stmt = stmt.where(Lead.township_id == township_id)
    return stmt


def visits_by(key, start: dt.date, end: dt.date) -> sa.Select:
    """The visits from ``start`` to ``end``, counted by ``key``."""
    return (sa.select(key, sa.func.count(Visit.id))
            .join(Lead, Lead.id == Visit.lead_id)
            .where(Visit.visited_on.between(start, end))
            .group_by(key))


def moves_by(key, start: dt.date, end: dt.date) -> sa.Select:
    """The stage moves someone made (not a lead's first stage, not the stages a move skipped)
    effective from ``start`` to ``end``, counted by ``key``."""
    return (sa.select(key, sa.func.count(StageChange.id))
            .join(Lead, Lead.id == StageChange.lead_id)
            .where(StageChange.implied.is_(False), StageChange.from_stage.is_not(None),
                   StageChange.effective_on.between(start, end))
            .group_by(key))


def breakdowns(user: User, township_id: int | None, year: int, as_of: dt.date,
               basis: str | None = None) -> Breakdowns:
    """By 产业链 and industry, by source, by officer: six queries. The signings count on
    ``basis`` (the setting's when None), like the unit's numbers."""
    start, end = period(year, as_of)
    basis = basis or default_basis()
    return Breakdowns(
        by_industry=_by_industry(user, township_id, start, end, as_of, basis),
        by_source=_by_group(user, township_id, Lead.source, start, end, as_of, basis),
        by_officer=_by_officer(user, township_id, start, end, as_of),
    )


def _counted(user, township_id, start, end, as_of, basis):
    """The columns and joins of ``Counts``: (the three sums, a select's extension that joins the
    first entries into signed, the condition that the lead counts in the period at all)."""
    fe = first_entries(as_of, scoped(sa.select(Lead.id), user, township_id), stages=("signed",),
                       basis=basis)
    created = Lead.created_on.between(start, end)
    signed = fe.c.first_on.between(start, end)
    sums = (sa.func.sum(sa.case((created, 1), else_=0)),
            sa.func.sum(sa.case((signed, 1), else_=0)),
            sa.func.sum(sa.case((signed, Lead.investment_wan), else_=None)))

    def joined(stmt):
        return (stmt.outerjoin(fe, sa.and_(fe.c.lead_id == Lead.id, fe.c.stage == "signed"))
                .where(sa.or_(created, signed)))

    return sums, joined


def _counts(n_created, n_signed, invest) -> dict:
    return {"created": n_created or 0, "signed": n_signed or 0,
            "signed_investment_wan": invest or Decimal(0)}


def _by_group(user, township_id, column, start, end, as_of, basis) -> list[GroupRow]:
    """Leads created in the period and leads that first entered signed in it, per value."""
    sums, joined = _counted(user, township_id, start, end, as_of, basis)
    stmt = scoped(joined(sa.select(column, *sums)).group_by(column), user, township_id)
    rows = [GroupRow(key=key or "", **_counts(*numbers))
            for key, *numbers in db.session.execute(stmt)]
    rows.sort(key=lambda r: (-r.created, -r.signed, r.key))
    return rows


def _by_industry(user, township_id, start, end, as_of, basis) -> list[ChainRow]:
    """Like ``_by_group`` per managed industry, in the list's order, under 产业链 subtotals;
    then 待归类 (text that matched no industry) and leads without an industry ("")."""
    sums, joined = _counted(user, township_id, start, end, as_of, basis)
    # literal SQL, no parameters: PostgreSQL must see the grouped expression as the selected one
    unsorted = sa.case((sa.and_(Lead.industry_id.is_(None),
                                Lead.industry_text != sa.literal_column("''")),
                        sa.literal_column("1")), else_=sa.literal_column("0"))
    stmt = scoped(
        joined(sa.select(Industry.id, Industry.chain, Industry.name, unsorted, *sums)
               .outerjoin(Industry, Industry.id == Lead.industry_id))
        .group_by(Industry.id, Industry.chain, Industry.name, Industry.sort_order, unsorted)
        .order_by(Industry.sort_order.is_(None), Industry.sort_order, Industry.id),
        user, township_id,
    )
    chains: dict[str, ChainRow] = {}
    found = sorted(db.session.execute(stmt), key=lambda r: (r[0] is None, r[0] is None and -r[3]))
    for industry_id, chain, name, is_unsorted, *numbers in found:
        if industry_id is None:
            chain, name = "", UNSORTED if is_unsorted else ""
        row = IndustryRow(chain=chain, key=name, **_counts(*numbers))
        total = chains.setdefault(chain, ChainRow(chain=chain))
        total.industries.append(row)
        total.add(row)
    return list(chains.values())


def _by_officer(user, township_id, start, end, as_of) -> list[OfficerRow]:
    rows: dict[int | None, OfficerRow] = {}

    def row(user_id):
        return rows.setdefault(user_id, OfficerRow(user_id))

    leads = scoped(
        sa.select(Lead.primary_officer_id, sa.func.count(Lead.id))
        .where(Lead.created_on <= as_of)
        .group_by(Lead.primary_officer_id),
        user, township_id,
    )
    for user_id, n in db.session.execute(leads):
        row(user_id).leads = n
    visits = scoped(visits_by(Visit.user_id, start, end), user, township_id)
    for user_id, n in db.session.execute(visits):
        row(user_id).visits = n
    moves = scoped(moves_by(StageChange.credited_officer_id, start, end), user, township_id)
    for user_id, n in db.session.execute(moves):
        row(user_id).moves = n
    _name_officers(rows, user, township_id)
    named = sorted((r for r in rows.values() if r.user_id is not None),
                   key=lambda r: (-r.leads, -r.visits, r.name, r.user_id))
    return named + ([rows[None]] if None in rows else [])


def _name_officers(rows: dict, user: User, township_id: int | None) -> None:
    """Names for the officers counted, and a zero row for each idle officer of the unit(s)."""
    visible = visible_townships(user).with_only_columns(Township.id).order_by(None)
    of_unit = sa.and_(User.active, User.role.in_(UNIT_ROLES), User.township_id.in_(visible))
    if township_id is not None:
        of_unit = sa.and_(of_unit, User.township_id == township_id)
    ids = [i for i in rows if i is not None]
    people = db.session.execute(
        sa.select(User.id, User.display_name, of_unit).where(sa.or_(of_unit, User.id.in_(ids)))
    )
    for user_id, name, member in people:
        row = rows.setdefault(user_id, OfficerRow(user_id))
        row.name, row.member = name, bool(member)


def weekly_moves(user: User, township_id: int | None, year: int, as_of: dt.date,
                 weeks: int = 12) -> list[WeekMoves]:
    """Stage entries (non-implied stage changes) per stage in each of the last ``weeks`` ISO
    weeks up to the as-of date (31 December for a past year), oldest first.

    Grouped by day in SQL (at most 7 × weeks × stages rows), bucketed into weeks here.
    """
    end = min(as_of, dt.date(year, 12, 31))
    first_monday = end - dt.timedelta(days=end.weekday()) - dt.timedelta(weeks=weeks - 1)
    buckets = [WeekMoves(first_monday + dt.timedelta(weeks=i)) for i in range(weeks)]
    stmt = scoped(
        sa.select(StageChange.effective_on, StageChange.to_stage, sa.func.count(StageChange.id))
        .join(Lead, Lead.id == StageChange.lead_id)
        .where(StageChange.implied.is_(False),
               StageChange.effective_on.between(first_monday, end))
        .group_by(StageChange.effective_on, StageChange.to_stage),
        user, township_id,
    )
    for on, stage, n in db.session.execute(stmt):
        buckets[(on - first_monday).days // 7].counts[stage] += n
    return buckets
