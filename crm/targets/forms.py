"""Forms of the targets page: the whole grid (units × metrics) in one form, each cell a target
and its optional due date (完成时限); copying a year."""

import unicodedata
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import HiddenInput

from crm.inputs import InputForm, Invalid, WholeField, to_date
from crm.targets.models import METRICS
from crm.targets.services import YEAR_MAX, YEAR_MIN, rate_problem, value_problem


def cell_name(township_id: int, metric: str) -> str:
    """The name of a grid cell's input: ``t-<township_id>-<metric>``."""
    return f"t-{township_id}-{metric}"


def due_name(township_id: int, metric: str) -> str:
    """The name of a grid cell's due-date input: ``d-<township_id>-<metric>``."""
    return f"d-{township_id}-{metric}"


def clean_cell(raw: str | None) -> str:
    """What the user typed, tolerant of full-width digits and thousands separators; a rate may
    be typed as a percentage ("90%" is 0.9)."""
    text = unicodedata.normalize("NFKC", raw or "").strip().replace(",", "")
    if text.endswith("%"):
        try:
            return str((Decimal(text[:-1].strip()) / 100).normalize())
        except (InvalidOperation, ValueError):
            return text
    return text


def _valid_cell(form, field):
    text = clean_cell(field.data)
    if text and (problem := value_problem(text)) is not None:
        raise ValidationError(problem)
    metric = field.name.split("-", 2)[2]
    if text and (problem := rate_problem(metric, Decimal(text))) is not None:
        raise ValidationError(problem)


def _valid_due(form, field):
    text = (field.data or "").strip()
    if not text:
        return
    try:
        day = to_date(text)
    except Invalid as exc:
        raise ValidationError(exc.message) from exc
    if str(day.year) != str(form.year.data):
        raise ValidationError(_l("完成时限须在该年度内"))


class TargetGridForm(InputForm):
    """Built per request by ``grid_form``: one text cell per visible unit and metric."""

    year = HiddenField()
    #: (township_id, metric, field name) of every cell, in display order.
    cells: list[tuple[int, str, str]] = []

    def cell(self, township_id: int, metric: str):
        return self[cell_name(township_id, metric)]

    def due(self, township_id: int, metric: str):
        return self[due_name(township_id, metric)]

    def values(self) -> dict[int, dict]:
        """The posted values by unit: ``{"target": Decimal, "due_on": date or None}``, or None
        for an empty cell (no target).

        A cell missing from the post (a unit added since the page was drawn) is left out, so
        saving never touches targets the user did not see; a due-date input missing from the
        post leaves the due date as it is.
        """
        result: dict[int, dict] = {}
        for township_id, metric, name in self.cells:
            field = self[name]
            if not field.raw_data:
                continue
            text = clean_cell(field.data)
            if not text:
                result.setdefault(township_id, {})[metric] = None
                continue
            value: dict = {"target": Decimal(text)}
            due = self.due(township_id, metric)
            if due.raw_data:
                day = (due.data or "").strip()
                value["due_on"] = to_date(day) if day else None
            result.setdefault(township_id, {})[metric] = value
        return result

    def cell_errors(self) -> int:
        return sum(1 for tid, metric, name in self.cells
                   if self[name].errors or self.due(tid, metric).errors)


def grid_form(townships, year: int, targets) -> TargetGridForm:
    """The grid for ``townships``, filled with ``targets`` unless the request posted values."""
    cells = [(t.id, m, cell_name(t.id, m)) for t in townships for m in METRICS]
    attrs = {name: StringField(validators=[_valid_cell]) for _tid, _m, name in cells}
    attrs.update({due_name(tid, m): StringField(validators=[_valid_due]) for tid, m, _n in cells})
    form_class = type("TargetGrid", (TargetGridForm,), {**attrs, "cells": cells})
    data = {cell_name(t.township_id, t.metric): str(t.value) for t in targets}
    data.update({due_name(t.township_id, t.metric): t.due_on.isoformat()
                 for t in targets if t.due_on})
    return form_class(data={**data, "year": year})




class CopyForm(InputForm):
    """Copy last year's targets into ``year``."""

    year = WholeField(widget=HiddenInput(), minimum=YEAR_MIN + 1, maximum=YEAR_MAX,
                      validators=[InputRequired()])
    overwrite = BooleanField(_l("覆盖本年已设置的目标"))
