"""Reminder forms: the user's preferences, the unsubscribe confirmation and an admin's retry."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import Length, Optional

from crm.inputs import DB_INT_MAX, InputForm, WholeField


class PreferencesForm(InputForm):
    reminder_daily = BooleanField(_l("每日跟进提醒"))
    reminder_weekly = BooleanField(_l("每周提醒"))
    #: By this number the unit's WeCom or DingTalk group robot @-mentions the user.
    mobile = StringField(_l("手机号码"), validators=[
        Length(max=20, message=_l("请填写11位中国大陆手机号码"))])


class UnsubscribeForm(InputForm):
    """Only the CSRF token: the token in the URL says who and what."""


class RetryForm(InputForm):
    #: One row to retry; without it, ``scope == "failed"`` retries every failed pending row.
    dispatch_id = WholeField(minimum=1, maximum=DB_INT_MAX, validators=[Optional()])
    scope = HiddenField()
