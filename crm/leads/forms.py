"""WTForms for leads: create/edit, stage move, assignment, funds, blockers."""

from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from crm.clock import today
from crm.inputs import AmountField, DayField, InputForm, Required, WholeField, to_id
from crm.leads.models import (
    BLOCKER_KINDS,
    BLOCKER_LABELS,
    KEY_LEVEL_LABELS,
    KEY_LEVELS,
    SOURCE_LABELS,
    SOURCES,
)
from crm.leads.pipeline import LOST_REASON_LABELS, LOST_REASONS, ORDERED_STAGES, STAGE_LABELS, STAGES
from crm.leads.validation import (
    FOLLOW_UP_PAST,
    credit_code_valid,
    follow_up_in_past,
    phone_valid,
)


def _credit_code(form, field):
    if field.data and not credit_code_valid(field.data):
        raise ValidationError(_l("统一社会信用代码无效（应为18位，校验位须正确）"))


def _phone(form, field):
    if field.data and not phone_valid(field.data):
        raise ValidationError(_l("电话号码格式不正确"))


def follow_up_not_past(form, field):
    """A next follow-up typed on a page (the lead form, the visit form): today or later, unless
    it is the date already on file (``form.kept_follow_up``, perhaps overdue)."""
    if follow_up_in_past(field.data, getattr(form, "kept_follow_up", None)):
        raise ValidationError(FOLLOW_UP_PAST)


#: The most jobs a project may promise (the API's bound too).
JOBS_MAX = 10_000_000
_DATE_MSG = _l("日期格式应为 YYYY-MM-DD")


def _amount(label, places=4, wan=True):
    return AmountField(label, places=places, wan=wan, validators=[Optional()])


def _date(label, required=False, **bounds):
    validators = [Required(_DATE_MSG)] if required else [Optional()]
    return DayField(label, validators=validators, **bounds)


class LeadForm(InputForm):
    name = StringField(_l("项目名称"), validators=[Required(_l("请填写项目名称")), Length(max=200)])
    company = StringField(_l("投资方"), validators=[Required(_l("请填写投资方")), Length(max=200)])
    credit_code = StringField(_l("统一社会信用代码"), validators=[Optional(), _credit_code])
    origin = StringField(_l("来源地"), validators=[Length(max=64)])
    #: The managed industries by 产业链 (crm.industries.forms.industry_choices, set by the view).
    industry = SelectField(_l("产业"), choices=[], default="")
    chain = StringField(_l("产业链"), validators=[Length(max=64)])
    source = SelectField(_l("招商方式"), choices=[SelectChoice(s, SOURCE_LABELS[s]) for s in SOURCES],
                         default="other")
    key_level = SelectField(_l("重点项目"),
                            choices=[SelectChoice(k, KEY_LEVEL_LABELS[k]) for k in KEY_LEVELS],
                            default="none")
    investment_wan = AmountField(_l("计划投资（万元）"), places=4, wan=True, validators=[
        InputRequired(_l("请填写计划投资"))])
    land_mu = _amount(_l("用地（亩）"), places=2, wan=False)
    expected_output_wan = _amount(_l("预计年产值（万元）"))
    expected_tax_wan = _amount(_l("预计年税收（万元）"))
    jobs = WholeField(_l("预计就业（人）"), minimum=0, maximum=JOBS_MAX, validators=[Optional()])
    township_id = SelectField(_l("所属单位"), coerce=to_id)
    stage = SelectField(_l("阶段"), choices=[SelectChoice(s, STAGE_LABELS[s]) for s in ORDERED_STAGES],
                        default="contact")
    created_on = _date(_l("录入日期"), latest=today, too_late=_l("录入日期不能晚于今天"))
    primary_officer_id = SelectField(_l("负责人"), coerce=to_id, validate_choice=False)
    sponsor = StringField(_l("帮包领导"), validators=[Length(max=64)])
    contact_name = StringField(_l("联系人"), validators=[Length(max=64)])
    contact_phone = StringField(_l("联系电话"), validators=[Length(max=32), _phone])
    next_follow_up = DayField(_l("下次跟进"), validators=[Optional(), follow_up_not_past])
    planned_sign_date = _date(_l("计划签约"))
    planned_start_date = _date(_l("计划开工"))
    planned_production_date = _date(_l("计划投产"))
    stats_included_on = _date(_l("纳统日期"), latest=today, too_late=_l("纳统日期不能晚于今天"))
    notes = TextAreaField(_l("备注"), validators=[Length(max=5000)])
    version = HiddenField()

    #: The lead's next follow-up on file (an edit may keep it, though past).
    kept_follow_up = None


class MoveForm(InputForm):
    to = SelectField(_l("变更为"), choices=[SelectChoice(s, STAGE_LABELS[s]) for s in STAGES])
    on = _date(_l("生效日期"))
    reason = TextAreaField(_l("原因"), validators=[Length(max=2000)])
    lost_reason = SelectField(
        _l("终止原因"),
        choices=[SelectChoice("", "—")] + [SelectChoice(r, LOST_REASON_LABELS[r]) for r in LOST_REASONS],
        default="",
    )
    version = HiddenField()


class AssignForm(InputForm):
    primary_officer_id = SelectField(_l("负责人"), coerce=to_id, validate_choice=False,
                                     validators=[InputRequired(_l("请选择负责人"))])
    helper_ids = SelectMultipleField(_l("协助人员"), coerce=to_id, validate_choice=False)
    sponsor = StringField(_l("帮包领导"), validators=[Length(max=64)])


class FundForm(InputForm):
    arrived_on = _date(_l("到位日期"), required=True, latest=today,
                       too_late=_l("到位日期不能为空，也不能晚于今天"))
    amount_wan = AmountField(_l("金额（万元）"), places=4, positive=True, wan=True, validators=[
        InputRequired(_l("请填写金额"))])


class BlockerForm(InputForm):
    kind = SelectField(_l("问题类型"), choices=[SelectChoice(k, BLOCKER_LABELS[k]) for k in BLOCKER_KINDS])
    description = TextAreaField(_l("问题描述"), validators=[
        Required(_l("请描述问题")), Length(max=2000)])
    owner = StringField(_l("责任单位/人"), validators=[Length(max=64)])


class ResolveForm(InputForm):
    resolution = TextAreaField(_l("解决情况"), validators=[Length(max=2000)])


class ContactForm(InputForm):
    name = StringField(_l("姓名"), validators=[Required(_l("请填写联系人姓名")), Length(max=64)])
    title = StringField(_l("职务"), validators=[Length(max=64)])
    phone = StringField(_l("电话"), validators=[Length(max=32), _phone])
