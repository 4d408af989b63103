"""The JSON API, /api/v1: token auth, JSON errors, an OpenAPI 3 document."""

from flask import abort, request
from flask_smorest import Api as _Api

from crm.extensions import csrf


class Api(_Api):
    """flask-smorest, with errors left to our own handler (one JSON format, HTML elsewhere).

    Each operation documents its own error answers (crm.api.docs.errors), so there is no
    catch-all "default" response hiding an undocumented status.
    """

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self):
        pass


def require_body():
    """POST, PUT and PATCH carry a JSON body (required in the spec); none at all is malformed."""
    from crm.api.claims import BODYLESS_ENDPOINTS

    if (request.path.startswith("/api/") and request.routing_exception is None
            and request.endpoint not in BODYLESS_ENDPOINTS
            and request.method in {"POST", "PUT", "PATCH"} and not request.get_data(cache=True)):
        abort(400)


class _Registrar:
    def register(self, app):
        from crm.api import claims, me, resources, stats, supervision, targets
        from crm.api.schemas import ErrorSchema, Wan

        app.config.update(
            API_TITLE="招商 CRM API",
            API_VERSION="v1",
            OPENAPI_VERSION="3.0.3",
            OPENAPI_URL_PREFIX="/api/v1",
            OPENAPI_JSON_PATH="openapi.json",
            API_SPEC_OPTIONS={
                "components": {
                    "securitySchemes": {
                        "bearerAuth": {"type": "http", "scheme": "bearer"},
                    }
                },
                "security": [{"bearerAuth": []}],
            },
        )
        app.before_request(require_body)
        api = Api(app)
        api.register_field(Wan, "number", None)
        api.spec.components.schema("ErrorSchema", schema=ErrorSchema)
        for module in (me, resources, stats, targets, claims, supervision):
            for bp in module.blueprints():
                csrf.exempt(bp)
                api.register_blueprint(bp, url_prefix="/api/v1")
        # The spec itself is public.
        app.extensions["crm_api"] = api


blueprint = _Registrar()
