"""The forms of 申请退回: the officer's request and the head's decision."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, TextAreaField
from wtforms.validators import Length, Optional

from crm.inputs import DayField, InputForm
from crm.leads.pipeline import ORDERED_STAGES, STAGE_LABELS
from crm.moveback.models import DECISIONS


class RequestForm(InputForm):
    to_stage = SelectField(_l("退回到"),
                           choices=[SelectChoice(s, STAGE_LABELS[s]) for s in ORDERED_STAGES],
                           validate_choice=False)
    on = DayField(_l("生效日期"), validators=[Optional()])
    reason = TextAreaField(_l("退回原因"), validators=[Length(max=2000)])


class DecideForm(InputForm):
    decision = SelectField(_l("审批"), choices=[SelectChoice(d, d) for d in DECISIONS],
                           validate_choice=False)
    note = TextAreaField(_l("说明"), validators=[Length(max=2000)])
