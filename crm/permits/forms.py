"""Forms of the permit checklist: an item (add and edit) and marking it done."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.clock import today
from crm.inputs import DayField, InputForm, Required
from crm.permits.models import PERMIT_KIND_LABELS, PERMIT_KINDS
from crm.permits.services import NOTE_MAX, UNIT_MAX

_DATE_MSG = _l("日期格式应为 YYYY-MM-DD")


class PermitForm(InputForm):
    kind = SelectField(_l("手续类型"),
                       choices=[SelectChoice(k, PERMIT_KIND_LABELS[k]) for k in PERMIT_KINDS])
    responsible_unit = StringField(_l("责任单位"), validators=[Length(max=UNIT_MAX)])
    due_on = DayField(_l("完成时限"), validators=[Required(_DATE_MSG)])
    done_on = DayField(_l("办结日期"), validators=[Optional()], latest=today,
                       too_late=_l("办结日期不能晚于今天"))
    note = TextAreaField(_l("备注"), validators=[Length(max=NOTE_MAX)])

    def data_for_service(self) -> dict:
        return {name: getattr(self, name).data
                for name in ("kind", "responsible_unit", "due_on", "done_on", "note")}


class DoneForm(InputForm):
    done_on = DayField(_l("办结日期"), validators=[Optional()], latest=today,
                       too_late=_l("办结日期不能晚于今天"))
