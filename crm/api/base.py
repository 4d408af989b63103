"""The base of every API schema: Chinese messages in place of the library's English ones, and
answers whose fields are all required in the spec (they are always in the JSON)."""

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from crm import inputs

REQUIRED = _l("必填")
NOT_NULL = _l("不能为空值")
NOT_AN_OBJECT = inputs.NOT_AN_OBJECT
UNKNOWN_FIELD = _l("未知字段")
#: A field's "invalid" message by its type, the first that matches.
_INVALID = (
    (fields.DateTime, _l("时间格式应为 ISO 8601（如 2026-03-01T08:00:00+08:00）")),
    (fields.Date, inputs.BAD_DATE),
    (fields.Integer, inputs.NOT_AN_INTEGER),
    (fields.Number, inputs.NOT_A_NUMBER),
    (fields.Boolean, _l("须为 true 或 false")),
    (fields.UUID, _l("须为 UUID")),
    (fields.String, _l("须为文本")),
    (fields.List, _l("须为数组")),
    (fields.Tuple, _l("须为数组")),
    (fields.Dict, _l("须为 JSON 对象")),
    (fields.Nested, NOT_AN_OBJECT),
)
_BY_KEY = {
    "required": REQUIRED,
    "null": NOT_NULL,
    "validator_failed": _l("值无效"),
    "too_large": inputs.TOO_LARGE,
    "special": inputs.NOT_A_NUMBER,
    "invalid_utf8": _l("须为 UTF-8 文本"),
    "invalid_uuid": _l("须为 UUID"),
    "unknown": _l("不是可选的值"),
    "type": NOT_AN_OBJECT,
}


def _invalid(field) -> str:
    return next((message for kind, message in _INVALID if isinstance(field, kind)),
                _l("格式不正确"))


def localise_validator(validator):
    """A marshmallow validator with Chinese messages (unless it was given its own)."""
    if getattr(validator, "error", None) not in (None, getattr(validator, "default_message", 0)):
        return validator
    if isinstance(validator, validate.Length):
        validator.message_min = _l("长度不能少于 {min}")
        validator.message_max = _l("长度不能超过 {max}")
        validator.message_all = _l("长度须在 {min} 到 {max} 之间")
        validator.message_equal = _l("长度须为 {equal}")
    elif isinstance(validator, validate.Range):
        validator.message_min = _l("不能小于 {min}") if validator.min_inclusive \
            else _l("须大于 {min}")
        validator.message_max = _l("不能大于 {max}") if validator.max_inclusive \
            else _l("须小于 {max}")
        validator.message_all = _l("须在 {min} 到 {max} 之间")
    elif isinstance(validator, validate.OneOf):
        validator.error = _l("须为以下之一：{choices}")
    elif isinstance(validator, validate.Regexp):
        validator.error = _l("格式不正确")
    return validator


def localise(field) -> None:
    """Replace the field's English library messages (and its validators', and those of the
    fields inside it) by Chinese ones; messages a field sets itself (in Chinese) stay."""
    for key, message in list(field.error_messages.items()):
        if isinstance(message, str) and message.isascii():
            field.error_messages[key] = _invalid(field) if key in ("invalid", "format") \
                else _BY_KEY.get(key, _l("值无效"))
    for validator in field.validators:
        localise_validator(validator)
    inner = [getattr(field, "inner", None), getattr(field, "key_field", None),
             getattr(field, "value_field", None), *getattr(field, "tuple_fields", ())]
    for sub in inner:
        if sub is not None:
            localise(sub)


class ApiSchema(Schema):
    """Every API schema (requests and answers): the library's messages in Chinese."""

    error_messages = {"unknown": UNKNOWN_FIELD, "type": NOT_AN_OBJECT}

    def on_bind_field(self, field_name, field_obj):
        localise(field_obj)


class AnswerSchema(ApiSchema):
    """An answer: each field is always in the JSON (null where allowed), so the spec lists every
    field as required and a generated client types none as optional. A field that is left out
    of some answers says so with ``metadata={"optional": True}``."""

    def on_bind_field(self, field_name, field_obj):
        super().on_bind_field(field_name, field_obj)
        if not field_obj.metadata.get("optional"):
            field_obj.required = True
