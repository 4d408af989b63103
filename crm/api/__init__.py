"""The JSON API, /api/v1 (CONTRACT.md): token auth, JSON errors, an OpenAPI 3 document."""

from flask_smorest import Api as _Api

from crm.extensions import csrf


class Api(_Api):
    """flask-smorest, with errors left to our own handler (one JSON format, HTML elsewhere)."""

    def _register_error_handlers(self):
        pass


class _Registrar:
    def register(self, app):
        from crm.api import me, resources, stats, targets
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
        api = Api(app)
        api.register_field(Wan, "number", None)
        api.spec.components.schema("ErrorSchema", schema=ErrorSchema)
        for module in (me, resources, stats, targets):
            for bp in module.blueprints():
                csrf.exempt(bp)
                api.register_blueprint(bp, url_prefix="/api/v1")
        # The spec itself is public.
        app.extensions["crm_api"] = api


blueprint = _Registrar()
