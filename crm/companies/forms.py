"""Forms of the company and dispute pages."""

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import InputRequired, Length

from crm.companies.models import DECISION_LABELS, DECISIONS
from crm.inputs import InputForm


class RulingForm(InputForm):
    decision = RadioField(_l("裁定"), choices=[SelectChoice(d, DECISION_LABELS[d]) for d in DECISIONS],
                          validators=[InputRequired(_l("请选择裁定结果"))])
    note = TextAreaField(_l("说明"), validators=[Length(max=2000)])
