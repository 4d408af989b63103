"""The JSON API, /api/v1: token auth, JSON errors, an OpenAPI 3 document."""

import threading

from flask import abort, request
from flask_smorest import Api as _Api
from werkzeug.routing import IntegerConverter

from crm.extensions import csrf

#: The document's title: generators name the client package after it (zhaoshang-crm-api-client).
TITLE = "Zhaoshang CRM API"
DESCRIPTION = (
    "招商 CRM 的 JSON 接口：项目（线索）、阶段变更、走访、到位资金、年度目标、统计、"
    "里程碑申报与核验。\n\n"
    "以 `Authorization: Bearer <token>` 调用（令牌由 `crm tokens create` 或个人资料页生成），"
    "权限与所属单位同该用户。错误一律为 `{\"error\": {\"code\", \"message\", \"fields\"}}`；"
    "金额单位为万元，按四舍六入五成双保留4位小数。"
)


class YearConverter(IntegerConverter):
    """A year in a path (``/targets/{township_id}/{year}``): any integer matches, so a year out
    of range is answered 422 by the rule; the spec states the range (2000–2100)."""


def _year_schema(converter):
    from crm.targets.services import YEAR_MAX, YEAR_MIN

    return {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX}


class Api(_Api):
    """flask-smorest, with errors left to our own handler (one JSON format, HTML elsewhere).

    Each operation documents its own error answers (crm.api.docs.errors), so there is no
    catch-all "default" response hiding an undocumented status.
    """

    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, *args, **kwargs):
        from crm.api.schemas import ErrorSchema

        #: Error answers are ours (``Error``), not the library's.
        self.ERROR_SCHEMA = ErrorSchema
        self._undocumented: list[tuple] = []
        self._documenting = threading.Lock()
        super().__init__(*args, **kwargs)

    def _register_error_handlers(self):
        pass

    def _register_pagination_header(self):
        """No pagination header: pages say their total in the body (no PaginationMetadata)."""

    # The document is written when it is first read (/api/v1/openapi.json, the docs page), not
    # at start-up: describing every operation is most of the cost of creating the app.
    @property
    def spec(self):
        if self._undocumented:
            from crm.api.docs import tag

            with self._documenting:
                pending, self._undocumented = self._undocumented, []
                for blp, name, parameters in pending:
                    blp.register_views_in_doc(self, self._app, self._spec, name=name,
                                              parameters=parameters)
                    # The tag as the operations' tags (ClientPlugin): "leads", not "api_leads".
                    self._spec.tag({"name": tag(name), "description": blp.description})
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec = value

    def register_blueprint(self, blp, *, parameters=None, **options):
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))


def require_body():
    """POST, PUT and PATCH carry a JSON body (required in the spec); none at all is malformed."""
    from crm.api.claims import BODYLESS_ENDPOINTS

    if (request.path.startswith("/api/") and request.routing_exception is None
            and request.endpoint not in BODYLESS_ENDPOINTS
            and request.method in {"POST", "PUT", "PATCH"} and not request.get_data(cache=True)):
        abort(400)


class _Registrar:
    def register(self, app):
        from crm.api import (
            claims,
            companies,
            industries,
            me,
            permits,
            resources,
            stats,
            supervision,
            targets,
            townships,
        )
        from crm.api.docs import ClientPlugin, named_enum
        from crm.api.schemas import Wan

        app.config.update(
            API_TITLE=TITLE,
            API_VERSION="v1",
            OPENAPI_VERSION="3.0.3",
            OPENAPI_URL_PREFIX="/api/v1",
            OPENAPI_JSON_PATH="openapi.json",
            API_SPEC_OPTIONS={
                "info": {"description": DESCRIPTION},
                "components": {
                    "securitySchemes": {
                        "bearerAuth": {"type": "http", "scheme": "bearer"},
                    }
                },
                "security": [{"bearerAuth": []}],
            },
        )
        app.before_request(require_body)
        app.url_map.converters["year"] = YearConverter
        api = Api(app, spec_kwargs={"extra_plugins": [ClientPlugin()]})
        api.register_field(Wan, "number", None)
        api.register_converter(YearConverter, _year_schema)
        api.ma_plugin.converter.add_attribute_function(named_enum)
        api.spec.components.schema("TargetWithDue", schema=targets.TargetWithDueSchema)
        api.spec.components.schema("RateWithDue", schema=targets.RateWithDueSchema)
        for bp in (me.bp, townships.bp, resources.bp, stats.bp, targets.bp, claims.bp,
                   permits.bp, industries.bp, companies.bp, supervision.bp,
                   supervision.bulletins_bp):
            csrf.exempt(bp)
            api.register_blueprint(bp, url_prefix="/api/v1")
        # The spec itself is public.
        app.extensions["crm_api"] = api


blueprint = _Registrar()
