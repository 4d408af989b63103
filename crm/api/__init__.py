"""The JSON API, /api/v1: token auth, JSON errors, an OpenAPI 3 document."""

import threading

from flask import abort, request
from flask_smorest import Api as _Api

from crm.extensions import csrf


class Api(_Api):
    """flask-smorest, with errors left to our own handler (one JSON format, HTML elsewhere).

    Each operation documents its own error answers (crm.api.docs.errors), so there is no
    catch-all "default" response hiding an undocumented status.
    """

    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, *args, **kwargs):
        self._undocumented: list[tuple] = []
        self._documenting = threading.Lock()
        super().__init__(*args, **kwargs)

    def _register_error_handlers(self):
        pass

    # The document is written when it is first read (/api/v1/openapi.json, the docs page), not
    # at start-up: describing every operation is most of the cost of creating the app.
    @property
    def spec(self):
        if self._undocumented:
            with self._documenting:
                pending, self._undocumented = self._undocumented, []
                for blp, name, parameters in pending:
                    blp.register_views_in_doc(self, self._app, self._spec, name=name,
                                              parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
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
        )
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
        api.spec.components.schema("TargetWithDue", schema=targets.TargetWithDueSchema)
        for module in (me, resources, stats, targets, claims, permits, industries, companies,
                       supervision):
            csrf.exempt(module.bp)
            api.register_blueprint(module.bp, url_prefix="/api/v1")
        # The spec itself is public.
        app.extensions["crm_api"] = api


blueprint = _Registrar()
