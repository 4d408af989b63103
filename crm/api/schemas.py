"""Marshmallow schemas: they validate requests and generate the OpenAPI document."""

from decimal import Decimal, InvalidOperation

from marshmallow import Schema, fields, validate


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(),
                          values=fields.List(fields.String()))


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class MeSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String()
    role = fields.String(required=True)
    township_id = fields.Integer(allow_none=True, required=True)


class TownshipSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)


class Wan(fields.Field):
    """An exact amount of 万元: a JSON number in, a Decimal inside, a JSON number out."""

    default_error_messages = {
        "invalid": "须为数字",
        "negative": "不能为负数",
        "places": "最多保留4位小数",
        "too_large": "数值过大",
    }

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        value = Decimal(value)
        return int(value) if value == value.to_integral_value() else float(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not amount.is_finite():
            raise self.make_error("invalid")
        if amount < 0:
            raise self.make_error("negative")
        if amount.as_tuple().exponent < -4:
            raise self.make_error("places")
        if amount >= Decimal("1e12"):
            raise self.make_error("too_large")
        return amount

    def _jsonschema_type_mapping(self):
        return {"type": "number", "minimum": 0}


STAGE_CODES = ("contact", "negotiation", "signed", "started", "producing", "lost")
ACTIVE_CODES = ("contact", "negotiation", "signed", "started", "producing")
SOURCE_CODES = ("referral", "enterprise", "industry_chain", "capital", "resident", "fair", "agent",
                "other")
LOST_CODES = ("investor_withdrew", "relocated", "terms_failed", "policy", "other")
VISIT_KINDS = ("visit", "reception", "meeting", "call", "inspection", "online")
COLOURS = ("red", "yellow", "blue")


def _text(max_len, min_len=0, **kw):
    return fields.String(validate=validate.Length(min=min_len, max=max_len), **kw)


class LeadFieldsSchema(Schema):
    """The fields a client may write on a lead (create and PATCH)."""

    name = _text(200, 1)
    company = _text(200, 1)
    credit_code = fields.String(allow_none=True, validate=validate.Length(max=18))
    origin = _text(64)
    industry = _text(64)
    chain = _text(64)
    source = fields.String(validate=validate.OneOf(SOURCE_CODES))
    investment_wan = Wan()
    land_mu = Wan(allow_none=True)
    expected_output_wan = Wan(allow_none=True)
    expected_tax_wan = Wan(allow_none=True)
    jobs = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=10_000_000),
                          strict=True)
    sponsor = _text(64)
    contact_name = _text(64)
    contact_phone = _text(32)
    next_follow_up = fields.Date(allow_none=True)
    planned_sign_date = fields.Date(allow_none=True)
    planned_start_date = fields.Date(allow_none=True)
    planned_production_date = fields.Date(allow_none=True)
    stats_included_on = fields.Date(allow_none=True)
    notes = _text(5000)


class LeadCreateSchema(LeadFieldsSchema):
    name = _text(200, 1, required=True)
    company = _text(200, 1, required=True)
    investment_wan = Wan(required=True)
    stage = fields.String(load_default="contact", validate=validate.OneOf(ACTIVE_CODES))
    created_on = fields.Date()
    township_id = fields.Integer(strict=True)
    primary_officer_id = fields.Integer(allow_none=True, strict=True)
    officer_ids = fields.List(fields.Integer(strict=True), metadata={
        "description": "Helper officers of the unit (the primary officer may be included)."})


class LeadPatchSchema(LeadFieldsSchema):
    version = fields.Integer(required=True, strict=True)


class LeadSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    company = fields.String(required=True)
    credit_code = fields.String(allow_none=True)
    origin = fields.String()
    industry = fields.String()
    chain = fields.String()
    source = fields.String()
    investment_wan = Wan()
    land_mu = Wan(allow_none=True)
    expected_output_wan = Wan(allow_none=True)
    expected_tax_wan = Wan(allow_none=True)
    jobs = fields.Integer(allow_none=True)
    funds_arrived_wan = Wan(dump_only=True)
    stage = fields.String()
    created_on = fields.Date()
    township_id = fields.Integer()
    primary_officer_id = fields.Integer(allow_none=True)
    officer_ids = fields.List(fields.Integer())
    sponsor = fields.String()
    contact_name = fields.String()
    contact_phone = fields.String()
    next_follow_up = fields.Date(allow_none=True)
    planned_sign_date = fields.Date(allow_none=True)
    planned_start_date = fields.Date(allow_none=True)
    planned_production_date = fields.Date(allow_none=True)
    stats_included_on = fields.Date(allow_none=True)
    lost_reason = fields.String(allow_none=True)
    color = fields.String(allow_none=True, attribute="colour")
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LeadQuerySchema(Schema):
    township_id = fields.Integer()
    stage = fields.String(validate=validate.OneOf(STAGE_CODES))
    officer_id = fields.Integer()
    color = fields.String(validate=validate.OneOf(COLOURS))
    q = fields.String(validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class LeadPageSchema(Schema):
    items = fields.List(fields.Nested(LeadSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class TransitionSchema(Schema):
    to = fields.String(required=True, validate=validate.OneOf(STAGE_CODES))
    on = fields.Date()
    reason = _text(2000)
    lost_reason = fields.String(allow_none=True, validate=validate.OneOf(LOST_CODES))
    version = fields.Integer(strict=True)


class VisitInSchema(Schema):
    visited_on = fields.Date()
    kind = fields.String(required=True, validate=validate.OneOf(VISIT_KINDS))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    next_step = _text(2000)
    next_follow_up = fields.Date(allow_none=True)


class VisitSchema(VisitInSchema):
    id = fields.Integer()
    lead_id = fields.Integer()
    user_id = fields.Integer()
    created_at = fields.DateTime()


class FundInSchema(Schema):
    arrived_on = fields.Date(required=True)
    amount_wan = Wan(required=True)


class FundSchema(FundInSchema):
    id = fields.Integer()
    lead_id = fields.Integer()
    user_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
