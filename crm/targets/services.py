"""Setting yearly targets, copying them from one year to another, and their history.

Services validate, change, ``flush()`` and audit, and never commit: the request (or command)
commits once. Each change of a unit's targets is one audit entry, action ``targets.set``, on the
township, with ``changes`` = ``{"year": [Y, Y], metric: [old, new], …}`` (values as strings,
``None`` for "no target"); the year pair names the year the metrics belong to. A change of a
target's due date (完成时限) is ``"<metric>.due_on": [old, new]`` (ISO dates or ``None``).
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from crm import audit
from crm.audit.models import AuditEntry
from crm.auth.permissions import can, visible_townships
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.money import plain_decimal
from crm.targets.models import METRICS, RATE_METRICS, Target
from crm.townships.models import Township

YEAR_MIN, YEAR_MAX = 2000, 2100
#: Fixed(4) stores value × 10⁴ in a BIGINT; anything near this is a typing error anyway.
VALUE_LIMIT = Decimal("1e12")
ACTION = "targets.set"


def value_problem(value) -> str | None:
    """Why ``value`` cannot be a target (a translated message), or None when it can."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        return _l("须为数字")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return _l("须为数字")
    if not amount.is_finite():
        return _l("须为数字")
    if amount < 0:
        return _l("不能为负数")
    if amount.as_tuple().exponent < -4:
        return _l("最多保留4位小数")
    if amount >= VALUE_LIMIT:
        return _l("数值过大")
    return None


def rate_problem(metric: str, value: Decimal) -> str | None:
    """A rate target (开工率, 纳统率) is a share: 0 to 1 (0.9 for 90%)."""
    if metric in RATE_METRICS and value > 1:
        return _l("比率目标须在0到1之间（如0.9表示90%）")
    return None


def due_problem(due_on, year) -> str | None:
    """A due date is a date within the target's year."""
    if due_on is None:
        return None
    if not isinstance(due_on, dt.date) or isinstance(year, bool) or not isinstance(year, int) \
            or due_on.year != year:
        return _l("完成时限须在该年度内")
    return None


def _split(value) -> tuple[object, object, bool]:
    """(target value, due date, whether a due date was given) of a value as ``set_targets``
    takes it: a number, or ``{"target": number, "due_on": date}``."""
    if isinstance(value, dict):
        return value.get("target"), value.get("due_on"), "due_on" in value
    return value, None, False


def year_problem(year) -> str | None:
    if isinstance(year, bool) or not isinstance(year, int) or not YEAR_MIN <= year <= YEAR_MAX:
        return _l("年度须在%(lo)s至%(hi)s之间", lo=YEAR_MIN, hi=YEAR_MAX)
    return None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(plain_decimal(Decimal(value)))


def _same_day_in(day: dt.date | None, year: int) -> dt.date | None:
    """A due date moved to another year (29 February becomes the 28th)."""
    if day is None:
        return None
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def _day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def unit_targets(township_id: int, year: int) -> list[Target]:
    """The unit's targets of the year, in the order of METRICS."""
    rows = db.session.scalars(
        sa.select(Target).where(Target.township_id == township_id, Target.year == year)
    ).all()
    return sorted(rows, key=lambda t: METRICS.index(t.metric))


def set_targets(user, township_id: int, year: int, values: dict) -> list[Target]:
    """Upsert the unit's targets of the year; a metric given as None loses its target.

    A metric's value is a number, or ``{"target": number, "due_on": date or None}`` to set its
    due date too (a plain number keeps the due date it has). Rate metrics take shares (0–1).
    Metrics not named in ``values`` are left alone. Returns all the unit's targets of the year.
    """
    if not can(user, "targets.edit"):
        raise Forbidden(_l("只有区招商局可以设置目标"))
    errors: dict[str, list] = {}
    if (problem := year_problem(year)) is not None:
        errors["year"] = [problem]
    township = db.session.get(Township, township_id) if isinstance(township_id, int) else None
    if township is None:
        errors["township_id"] = [_l("单位不存在")]
    cleaned: dict[str, Decimal | None] = {}
    dues: dict[str, dt.date | None] = {}
    for metric, given in values.items():
        value, due_on, due_given = _split(given)
        if metric not in METRICS:
            errors.setdefault(metric, []).append(_l("未知的指标"))
        elif value is None:
            cleaned[metric] = None
        elif (problem := value_problem(value)) is not None:
            errors.setdefault(metric, []).append(problem)
        elif (problem := rate_problem(metric, Decimal(str(value).strip()))) is not None:
            errors.setdefault(metric, []).append(problem)
        elif (problem := due_problem(due_on, year)) is not None:
            errors.setdefault(metric, []).append(problem)
        else:
            cleaned[metric] = plain_decimal(Decimal(str(value).strip()))
            if due_given:
                dues[metric] = due_on
    if errors:
        raise DomainError(_l("请检查填写的目标"), errors)

    existing = {t.metric: t for t in unit_targets(township.id, year)}
    changes: dict[str, list] = {}
    for metric in sorted(cleaned, key=METRICS.index):
        new, target = cleaned[metric], existing.get(metric)
        old = target.value if target is not None else None
        old_due = target.due_on if target is not None else None
        new_due = dues.get(metric, old_due) if new is not None else None
        if new is None and target is not None:
            db.session.delete(target)
        elif new is not None and target is None:
            db.session.add(Target(township_id=township.id, year=year, metric=metric, value=new,
                                  due_on=new_due))
        elif new is not None and (new != old or new_due != old_due):
            target.value, target.due_on = new, new_due
        else:
            continue
        if new != old:
            changes[metric] = [_text(old), _text(new)]
        if new_due != old_due:
            changes[f"{metric}.due_on"] = [_day(old_due), _day(new_due)]
    if changes:
        audit.record(user, ACTION, township, changes={"year": [year, year], **changes})
    db.session.flush()
    return unit_targets(township.id, year)


def targets_for(user, year: int) -> list[Target]:
    """The targets of the year of every unit ``user`` may see, by unit then metric."""
    visible = visible_townships(user).with_only_columns(Township.id).order_by(None)
    rows = db.session.scalars(
        sa.select(Target).where(Target.year == year, Target.township_id.in_(visible))
    ).all()
    return sorted(rows, key=lambda t: (t.township_id, METRICS.index(t.metric)))


def copy_year(user, from_year: int, to_year: int, overwrite: bool = False) -> int:
    """Copy every unit's targets of ``from_year`` to ``to_year``; returns how many were written.

    Targets already set for ``to_year`` are kept unless ``overwrite``; targets of ``to_year``
    without a counterpart in ``from_year`` are never removed.
    """
    if not can(user, "targets.edit"):
        raise Forbidden(_l("只有区招商局可以设置目标"))
    errors = {}
    for name, year in (("from_year", from_year), ("to_year", to_year)):
        if (problem := year_problem(year)) is not None:
            errors[name] = [problem]
    if not errors and from_year == to_year:
        errors["to_year"] = [_l("目标年度须不同于来源年度")]
    if errors:
        raise DomainError(_l("请检查年度"), errors)

    by_unit: dict[int, dict[str, tuple]] = {}
    for target in db.session.scalars(sa.select(Target).where(Target.year == from_year)):
        by_unit.setdefault(target.township_id, {})[target.metric] = (
            target.value, _same_day_in(target.due_on, to_year))
    written = 0
    for township_id in sorted(by_unit):
        present = {t.metric: (t.value, t.due_on) for t in unit_targets(township_id, to_year)}
        values = {
            metric: {"target": value, "due_on": due_on}
            for metric, (value, due_on) in by_unit[township_id].items()
            if metric not in present or (overwrite and present[metric] != (value, due_on))
        }
        if values:
            set_targets(user, township_id, to_year, values)
            written += len(values)
    return written


def history(township_id: int) -> list[AuditEntry]:
    """Who changed the unit's targets, and how, newest first."""
    return db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == ACTION, AuditEntry.object_type == "township",
               AuditEntry.object_id == township_id)
        .options(joinedload(AuditEntry.user))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    ).all()
