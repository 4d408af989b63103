"""Forms: a channel, its test button, the message log's retry, a user's mobile number."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from crm.channels.models import KIND_LABELS, KINDS
from crm.inputs import DB_INT_MAX, InputForm, Required, WholeField, to_id


class ChannelForm(InputForm):
    #: The webhook and the secret are typed, never shown again: empty on edit keeps them.
    raw_fields = ("url",)
    name = StringField(_l("名称"), validators=[
        Required(_l("请填写名称")), Length(max=64, message=_l("不超过64个字符"))])
    kind = SelectField(_l("类型"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS])
    #: 0: the district's channel.
    township_id = SelectField(_l("范围"), coerce=to_id, default=0)
    url = StringField(_l("Webhook 地址"), validators=[Length(max=1000, message=_l("地址过长"))])
    secret = PasswordField(_l("加签密钥（钉钉）"), validators=[Length(max=200)])
    clear_secret = BooleanField(_l("清除已保存的加签密钥"))
    keyword = StringField(_l("自定义关键词（钉钉）"), validators=[Length(max=64)])
    enabled = BooleanField(_l("启用"), default=True)

    def set_units(self, townships) -> None:
        self.township_id.choices = [(0, _l("全区"))] + [(t.id, t.name) for t in townships]


class ActionForm(InputForm):
    """Only the CSRF token: test, delete (the URL names the channel)."""


class RetryForm(InputForm):
    dispatch_id = WholeField(minimum=1, maximum=DB_INT_MAX, validators=[Optional()])
    scope = HiddenField()

