"""Forms of the targets page: the whole grid (units × metrics) in one form; copying a year."""

import unicodedata
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import HiddenInput

from crm.inputs import InputForm, WholeField
from crm.targets.models import METRICS
from crm.targets.services import YEAR_MAX, YEAR_MIN, value_problem


def cell_name(township_id: int, metric: str) -> str:
    """The name of a grid cell's input: ``t-<township_id>-<metric>``."""
    return f"t-{township_id}-{metric}"


def clean_cell(raw: str | None) -> str:
    """What the user typed, tolerant of full-width digits and thousands separators."""
    return unicodedata.normalize("NFKC", raw or "").strip().replace(",", "")


def _valid_cell(form, field):
    text = clean_cell(field.data)
    if text and (problem := value_problem(text)) is not None:
        raise ValidationError(problem)


class TargetGridForm(InputForm):
    """Built per request by ``grid_form``: one text cell per visible unit and metric."""

    year = HiddenField()
    #: (township_id, metric, field name) of every cell, in display order.
    cells: list[tuple[int, str, str]] = []

    def cell(self, township_id: int, metric: str):
        return self[cell_name(township_id, metric)]

    def values(self) -> dict[int, dict[str, Decimal | None]]:
        """The posted values by unit; an empty cell is None (no target).

        A cell missing from the post (a unit added since the page was drawn) is left out, so
        saving never touches targets the user did not see.
        """
        result: dict[int, dict[str, Decimal | None]] = {}
        for township_id, metric, name in self.cells:
            field = self[name]
            if not field.raw_data:
                continue
            text = clean_cell(field.data)
            result.setdefault(township_id, {})[metric] = Decimal(text) if text else None
        return result

    def cell_errors(self) -> int:
        return sum(1 for _tid, _metric, name in self.cells if self[name].errors)


def grid_form(townships, year: int, targets) -> TargetGridForm:
    """The grid for ``townships``, filled with ``targets`` unless the request posted values."""
    cells = [(t.id, m, cell_name(t.id, m)) for t in townships for m in METRICS]
    attrs = {name: StringField(validators=[_valid_cell]) for _tid, _m, name in cells}
    form_class = type("TargetGrid", (TargetGridForm,), {**attrs, "cells": cells})
    data = {cell_name(t.township_id, t.metric): str(t.value) for t in targets}
    return form_class(data={**data, "year": year})


class CopyForm(InputForm):
    """Copy last year's targets into ``year``."""

    year = WholeField(widget=HiddenInput(), minimum=YEAR_MIN + 1, maximum=YEAR_MAX,
                      validators=[InputRequired()])
    overwrite = BooleanField(_l("覆盖本年已设置的目标"))
