"""Forms for a user's own API tokens."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import Length

from crm.account.services import EXPIRY_CHOICES, MAX_NAME
from crm.inputs import InputForm, Required


class TokenForm(InputForm):
    name = StringField(_l("名称"), validators=[
        Required(_l("请填写令牌名称")),
        Length(max=MAX_NAME, message=_l("不超过%(n)s个字符", n=MAX_NAME))])
    days = SelectField(
        _l("有效期"), coerce=int, default=EXPIRY_CHOICES[0],
        choices=[SelectChoice(d, _l("%(n)s 天", n=d)) for d in sorted(EXPIRY_CHOICES)],
        validate_choice=True,
    )


class RevokeForm(InputForm):
    """Only the CSRF token: the URL names the token."""
