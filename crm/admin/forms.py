"""Forms for managing users and their tokens."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Regexp, ValidationError

from crm.auth.models import OFFICER, ROLE_LABELS, ROLES
from crm.inputs import InputForm, Required, to_id


def _password_or_generate(form, field):
    if not form.generate.data and not field.data:
        raise ValidationError(_l("请输入密码，或选择自动生成"))


def _unit_id(value) -> int:
    """The unit select's value; empty is "no unit" (0), anything not a number is refused."""
    return to_id(value)


class _ProfileFields(InputForm):
    raw_fields = ("username", "email")  # checked by crm.auth.names, which refuses invisibles
    display_name = StringField(_l("姓名"), validators=[
        Required(_l("请填写姓名")), Length(max=64, message=_l("不超过64个字符"))])
    email = StringField(_l("邮箱"), validators=[
        Required(_l("请填写邮箱")), Length(max=254, message=_l("不超过254个字符"))])
    mobile = StringField(_l("手机号码"), validators=[
        Length(max=20, message=_l("请填写11位中国大陆手机号码"))])
    role = SelectField(_l("角色"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES],
                       default=OFFICER)
    #: 0 is "no unit" (district admins, viewers).
    township_id = SelectField(_l("所属单位"), coerce=_unit_id, default=0)

    def set_units(self, townships) -> None:
        self.township_id.choices = [(0, _l("无（区级）"))] + [(t.id, t.name) for t in townships]


class _NewPassword(InputForm):
    generate = BooleanField(_l("自动生成随机密码（仅显示一次）"))
    password = PasswordField(_l("密码"), validators=[_password_or_generate])
    confirm = PasswordField(_l("确认密码"))

    def validate_confirm(self, field):
        if not self.generate.data and field.data != self.password.data:
            raise ValidationError(_l("两次输入的密码不一致"))


class UserCreateForm(_ProfileFields, _NewPassword):
    username = StringField(_l("用户名"), validators=[
        Required(_l("请填写用户名")), Length(max=64, message=_l("不超过64个字符")),
        Regexp(r"^\S+$", message=_l("用户名不能含空格"))])


class UserEditForm(_ProfileFields):
    pass


class PasswordResetForm(_NewPassword):
    pass


class ConfirmForm(InputForm):
    """Only the CSRF token: deactivate, reactivate, revoke (the URL names the object)."""

