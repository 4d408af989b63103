"""Forms for a user's own API tokens."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from crm.account.services import EXPIRY_CHOICES, MAX_NAME


class TokenForm(FlaskForm):
    name = StringField(_l("名称"), validators=[
        DataRequired(_l("请填写令牌名称")),
        Length(max=MAX_NAME, message=_l("不超过%(n)s个字符", n=MAX_NAME))])
    days = SelectField(
        _l("有效期"), coerce=int, default=EXPIRY_CHOICES[0],
        choices=[SelectChoice(d, _l("%(n)s 天", n=d)) for d in sorted(EXPIRY_CHOICES)],
        validate_choice=True,
    )


class RevokeForm(FlaskForm):
    """Only the CSRF token: the URL names the token."""
