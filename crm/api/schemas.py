"""Marshmallow schemas: they validate requests and generate the OpenAPI document."""

from marshmallow import Schema, fields


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
