"""Forms of the industry list, and the lead form's industry choices (grouped by 产业链)."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from crm.industries.initial import UNSORTED
from crm.industries.queries import all_industries, chain_groups
from crm.inputs import InputForm, Required, WholeField, to_id


def industry_choices(lead=None) -> list[SelectChoice]:
    """The active industries by 产业链 (values are names: the service takes a name or alias);
    the lead's own industry even if deactivated, and 待归类 with its text for an unsorted lead."""
    choices = [SelectChoice("", "—")]
    if lead is not None and lead.industry_id is None and lead.industry_text:
        choices.append(SelectChoice(UNSORTED, _l("待归类（原填：%(t)s）", t=lead.industry_text)))
    own = lead.industry_id if lead is not None else None
    for chain, industries in chain_groups(all_industries(), include_id=own):
        choices += [SelectChoice(i.name, i.name, optgroup=chain or _l("其他")) for i in industries]
    return choices


class IndustryForm(InputForm):
    name = StringField(_l("产业名称"), validators=[Required(_l("请填写产业名称")), Length(max=64)])
    chain = StringField(_l("产业链"), validators=[Length(max=64)])
    aliases = TextAreaField(_l("别名"), validators=[Length(max=4000)],
                            description=_l("每行一个，也可用逗号或顿号分隔；名称与别名不区分全半角和大小写"))
    sort_order = WholeField(_l("排序"), minimum=0, maximum=1_000_000)
    active = BooleanField(_l("在用"), default=True)


class SortForm(InputForm):
    """Sort the 待归类 leads of one text into an industry."""

    text = StringField(validators=[Required(_l("请选择原填写的产业")), Length(max=64)])
    industry_id = SelectField(_l("归入产业"), coerce=to_id, validate_choice=False)
