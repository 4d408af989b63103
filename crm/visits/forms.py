"""The visit form: three taps on a phone (date defaults to today)."""

import uuid

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.inputs import DayField, InputForm, Required
from crm.leads.forms import follow_up_not_past
from crm.visits.models import KIND_LABELS, KINDS


class VisitForm(InputForm):
    visited_on = DayField(_l("走访日期"), validators=[Required(_l("日期格式应为 YYYY-MM-DD"))])
    kind = RadioField(_l("方式"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS], default="visit",
                      validators=[Required(_l("请选择走访方式"))])
    summary = TextAreaField(_l("走访情况"), validators=[
        Required(_l("请填写走访情况")), Length(max=5000)])
    next_step = TextAreaField(_l("下一步"), validators=[Length(max=2000)])
    next_follow_up = DayField(_l("下次跟进"), validators=[Optional(), follow_up_not_past])
    participants = StringField(_l("参与人员"), validators=[Length(max=200)])

    #: The visit's next follow-up on file (an edit may keep it, though past).
    kept_follow_up = None


class NewVisitForm(VisitForm):
    """A new visit: the page carries a fresh ``client_id`` (a UUID), so the same form sent twice
    (a double tap, a resend after a lost answer) logs one visit."""

    client_id = HiddenField()


def new_visit_form(**values) -> NewVisitForm:
    """A new visit's form as shown (not posted), with a fresh client_id."""
    return NewVisitForm(formdata=None, client_id=str(uuid.uuid4()), **values)
