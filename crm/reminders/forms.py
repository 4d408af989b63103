"""Reminder forms: the user's preferences, the unsubscribe confirmation and an admin's retry."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField
from wtforms.validators import Optional


class PreferencesForm(FlaskForm):
    reminder_daily = BooleanField(_l("每日跟进提醒"))
    reminder_weekly = BooleanField(_l("每周提醒"))


class UnsubscribeForm(FlaskForm):
    """Only the CSRF token: the token in the URL says who and what."""


class RetryForm(FlaskForm):
    #: One row to retry; without it, ``scope == "failed"`` retries every failed pending row.
    dispatch_id = IntegerField(validators=[Optional()])
    scope = HiddenField()
