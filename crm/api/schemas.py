"""Marshmallow schemas: they validate requests and generate the OpenAPI document."""

from decimal import ROUND_HALF_EVEN, Decimal

from marshmallow import ValidationError, fields, validate

from crm import inputs
from crm.api.base import AnswerSchema, ApiSchema, localise_validator
from crm.leads.colour import COLOURS
from crm.leads.models import KEY_LEVELS, OWNERSHIPS, SOURCES
from crm.leads.pipeline import LOST_REASONS, ORDERED_STAGES, STAGES
from crm.visits.models import KINDS as VISIT_KINDS

#: Ids are 32-bit (the database's INTEGER); larger ones name nothing.
ID_MAX = 2**31 - 1
#: URL converter of an id in a path: out of range is simply not found (404).
ID = f"int(min=1, max={ID_MAX})"


class ErrorBodySchema(AnswerSchema):
    code = fields.String(metadata={"description": "What went wrong, for programs: "
                                   "bad_request, unauthorized, forbidden, not_found, conflict, "
                                   "too_large, unprocessable (the request's form), invalid (a "
                                   "rule of the domain), rate_limited, unavailable, …"})
    message = fields.String(metadata={"description": "For people, in the user's language"})
    fields_ = fields.Dict(data_key="fields", keys=fields.String(),
                          values=fields.List(fields.String()), metadata={
                              "description": "Each invalid field's messages (empty if none)"})
    changes = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()), metadata={
        "optional": True,
        "description": "On a 409 only: each field changed since the version read, as "
                       "[old, new] (a stage move as `stage`)."})


class ErrorSchema(AnswerSchema):
    """Every error answer: ``{"error": {"code", "message", "fields"}}``."""

    error = fields.Nested(ErrorBodySchema)


class MeSchema(AnswerSchema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String()
    role = fields.String(required=True)
    township_id = fields.Integer(allow_none=True, required=True)


class TownshipSchema(AnswerSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)


class IndustrySchema(ApiSchema):
    """An industry of the managed list; a lead's ``industry`` may be its name or an alias."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    chain = fields.String(required=True, metadata={"description": "产业链"})
    aliases = fields.List(fields.String(), required=True, attribute="alias_list")


WAN_MAX = Decimal("999999999999.9999")
PLACES = Decimal("0.0001")


def wan_json(value):
    """An amount of 万元 as a JSON number: an integer when whole."""
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def rounded(value, places: int):
    """A number as sent, rounded half-even to ``places`` decimals (0.1+0.2 sent as
    0.30000000000000004 is 0.3); anything else as it is, for the checks to refuse."""
    try:
        amount = Decimal(str(value).strip())
    except (ArithmeticError, ValueError):
        return value
    if not amount.is_finite() or amount.as_tuple().exponent >= -places or amount < 0 \
            or amount >= 10**13:
        return value  # negative (never rounded up to zero), huge or already exact
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


class Wan(fields.Field):
    """An exact amount of 万元: a JSON number in, a Decimal inside, a JSON number out.

    Rounded half-even to 4 decimal places (``places``) and below 10¹² (Fixed's range);
    ``positive`` amounts must be above zero, others may be zero. Answers (sums) may exceed what
    one input may be.
    """

    default_error_messages = {
        "invalid": "须为数字",
        "negative": "不能为负数",
        "positive": "须大于0",
        "places": "最多保留{places}位小数",
        "too_large": "数值过大",
    }

    def __init__(self, *, positive: bool = False, places: int = 4, **kwargs):
        self.positive, self.places = positive, places
        metadata = {"minimum": 0, **({"exclusiveMinimum": True} if positive else {})}
        super().__init__(metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return wan_json(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        amount = rounded(value, self.places)
        # text that is not a plain number (1.5亿, 15000万): the one parser of amounts
        parse = inputs.to_wan if isinstance(amount, str) else inputs.to_decimal
        try:
            return parse(amount, places=self.places, positive=self.positive,
                         below=WAN_MAX + PLACES)
        except inputs.Invalid as exc:
            raise ValidationError(str(exc.message)) from exc


class WanIn(Wan):
    """An amount a client sends: the spec states its places and bound too."""

    def __init__(self, places: int = 4, **kwargs):
        step = Decimal(1).scaleb(-places)
        largest = Decimal("1e12") - step
        rule = (f"Rounded half-even to {places} decimal places (0.30000000000000004 → 0.3; "
                f"四舍六入五成双，保留{places}位小数).")
        metadata = {"maximum": float(largest), "description": rule}
        if kwargs.get("positive"):  # above half a step: it rounds to a step at least
            metadata.update(minimum=float(step / 2), exclusiveMinimum=True)
        super().__init__(metadata=metadata, places=places, **kwargs)


class Text(fields.String):
    """A string as the input layer cleans it (crm/inputs.py): NUL, control and format
    characters removed, the same as on the pages. Lengths are checked on the text as sent (so
    what the spec calls too long is refused); a required text that shows nothing is refused by
    the service, as for a form."""

    def __init__(self, *args, min_len: int = 0, **kwargs):
        #: A minimum length is checked only on the text as sent (kept out of ``validators``,
        #: which marshmallow runs again on the cleaned text); the spec still says ``minLength``.
        self.min_len = min_len
        if min_len:
            kwargs["metadata"] = {**kwargs.get("metadata", {}), "minLength": min_len}
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.min_len:
            localise_validator(validate.Length(min=self.min_len))(text)
        for validator in self.validators:
            if isinstance(validator, validate.Length):
                validator(text)
        return inputs.clean_text(text)


class Day(fields.Date):
    """A date ``YYYY-MM-DD`` within 2000-01-01..2100-12-31 (the input layer's range)."""

    def __init__(self, **kwargs):
        metadata = {"pattern": inputs.DATE_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return inputs.to_date(value)
        except inputs.Invalid as exc:
            raise ValidationError(str(exc.message)) from exc


def _id(**kw):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=ID_MAX), **kw)


def _text(max_len, min_len=0, **kw):
    return Text(validate=validate.Length(max=max_len), min_len=min_len, **kw)


class LeadFieldsSchema(ApiSchema):
    """The fields a client may write on a lead (create and PATCH)."""

    name = _text(200, 1)
    company = _text(200, 1)
    credit_code = Text(allow_none=True, validate=validate.Length(max=18))
    origin = _text(64)
    industry = _text(64)
    chain = _text(64)
    source = fields.String(validate=validate.OneOf(SOURCES))
    investment_wan = WanIn()
    land_mu = WanIn(allow_none=True, places=2)
    expected_output_wan = WanIn(allow_none=True)
    expected_tax_wan = WanIn(allow_none=True)
    jobs = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=10_000_000),
                          strict=True)
    sponsor = _text(64)
    contact_name = _text(64)
    contact_phone = _text(32)
    next_follow_up = Day(allow_none=True)
    planned_sign_date = Day(allow_none=True)
    planned_start_date = Day(allow_none=True)
    planned_production_date = Day(allow_none=True)
    stats_included_on = Day(allow_none=True)
    notes = _text(5000)
    key_level = fields.String(validate=validate.OneOf(KEY_LEVELS), metadata={
        "description": "重点项目: none, district 区重点, city 市重点, province 省重点"})


class LeadCreateSchema(LeadFieldsSchema):
    name = _text(200, 1, required=True)
    company = _text(200, 1, required=True)
    investment_wan = WanIn(required=True)
    stage = fields.String(load_default=ORDERED_STAGES[0], validate=validate.OneOf(ORDERED_STAGES))
    created_on = Day()
    township_id = _id()
    primary_officer_id = _id(allow_none=True)
    officer_ids = fields.List(_id(), validate=validate.Length(max=50), metadata={
        "description": "Helper officers of the unit (the primary officer may be included)."})


class LeadPatchSchema(LeadFieldsSchema):
    version = _id(required=True)


class LeadSchema(AnswerSchema):
    """A lead as every answer gives it: all fields, null where there is no value."""

    id = fields.Integer()
    name = fields.String()
    company = fields.String()
    credit_code = fields.String(allow_none=True)
    origin = fields.String()
    industry = fields.String()
    chain = fields.String()
    source = fields.String(validate=validate.OneOf(SOURCES))
    investment_wan = Wan()
    land_mu = Wan(allow_none=True)
    expected_output_wan = Wan(allow_none=True)
    expected_tax_wan = Wan(allow_none=True)
    jobs = fields.Integer(allow_none=True)
    funds_arrived_wan = Wan(dump_only=True)
    stage = fields.String(validate=validate.OneOf(STAGES))
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
    key_level = fields.String(validate=validate.OneOf(KEY_LEVELS))
    lost_reason = fields.String(allow_none=True, validate=validate.OneOf(LOST_REASONS),
                                metadata={"description": "Set when the stage is lost"})
    color = fields.String(allow_none=True, attribute="colour", validate=validate.OneOf(COLOURS),
                          metadata={"description": "Null for producing and lost leads"})
    notes = fields.String()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    #: Its milestone claims (crm/api/claims.py defines the schema).
    claims = fields.List(fields.Nested("ClaimSchema"))
    #: Its investor's record, and who holds the investor (crm/api/companies.py).
    company_id = fields.Integer(allow_none=True)
    ownership = fields.String(validate=validate.OneOf(OWNERSHIPS))
    merged_into_id = fields.Integer(allow_none=True)
    first_registered = fields.Nested("FirstRegisteredSchema", allow_none=True, metadata={
        "description": "A disputed lead's notice (疑似撞单): the unit that registered the "
                       "investor first and when, nothing else of that lead; in the answer to "
                       "the call that created or changed the lead.", "optional": True})


class LeadQuerySchema(ApiSchema):
    township_id = fields.Integer(validate=validate.Range(min=1, max=ID_MAX))
    stage = fields.String(validate=validate.OneOf(STAGES))
    officer_id = fields.Integer(validate=validate.Range(min=1, max=ID_MAX))
    color = fields.String(validate=validate.OneOf(COLOURS))
    key_level = fields.String(validate=validate.OneOf((*KEY_LEVELS, "any")), metadata={
        "description": "One key level, or any: every key project (not none)"})
    q = Text(validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_schema(item: type[ApiSchema]) -> type[ApiSchema]:
    """The schema of one page of ``item``s: ``{items, total, page, per_page}`` (named after the
    item: LeadSchema → LeadPageSchema, "LeadPage" in the spec)."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return AnswerSchema.from_dict({
        "items": fields.List(fields.Nested(item), required=True),
        "total": fields.Integer(required=True),
        "page": fields.Integer(required=True),
        "per_page": fields.Integer(required=True),
    }, name=name)


LeadPageSchema = page_schema(LeadSchema)


class TransitionSchema(ApiSchema):
    to = fields.String(required=True, validate=validate.OneOf(STAGES))
    on = Day()
    reason = _text(2000)
    lost_reason = fields.String(allow_none=True, validate=validate.OneOf(LOST_REASONS))
    version = _id()


class VisitInSchema(ApiSchema):
    visited_on = Day()
    kind = fields.String(required=True, validate=validate.OneOf(VISIT_KINDS))
    summary = _text(5000, 1, required=True)
    next_step = _text(2000)
    next_follow_up = Day(allow_none=True)
    client_id = fields.UUID(allow_none=True, metadata={
        "description": "A UUID made by the client. Sending it again returns the visit logged "
                       "with it first (200) and logs nothing, so an offline phone can resend "
                       "safely; one used by another user or on another lead is refused (409)."})


class VisitSchema(AnswerSchema, VisitInSchema):
    id = fields.Integer()
    lead_id = fields.Integer()
    user_id = fields.Integer()
    created_at = fields.DateTime()


class FundInSchema(ApiSchema):
    arrived_on = Day(required=True)
    amount_wan = WanIn(required=True, positive=True)


class FundSchema(AnswerSchema, FundInSchema):
    amount_wan = Wan(required=True, positive=True)
    id = fields.Integer()
    lead_id = fields.Integer()
    user_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
