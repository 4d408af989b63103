"""招商 CRM: the investment-promotion pipeline of a district and its units."""

from pathlib import Path

from flask import Flask
from flask_babel import lazy_gettext as _l

from crm.config import INSTANCE_PATH, PROJECT_ROOT, load_settings, read_instance_file


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. It never migrates, seeds or sends: those are `crm` commands."""
    from crm.unit_of_work import App

    instance_path = Path((test_config or {}).get("INSTANCE_PATH", INSTANCE_PATH))
    app = App(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    file_settings = {} if test_config and test_config.get("IGNORE_INSTANCE_FILE") else (
        read_instance_file(instance_path)
    )
    settings = load_settings(instance_path, {**file_settings, **(test_config or {})})
    configure(app, settings)
    if test_config:
        app.config.update(test_config)
    register_extensions(app)
    register_inputs(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_unit_of_work(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_limits(app)
    return app


def configure(app: Flask, settings: dict) -> None:
    app.config.update(settings)
    app.config.update(
        SECRET_KEY=settings["CRM_SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=settings["CRM_DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings["CRM_DATABASE_URL"], settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["CRM_SESSION_COOKIE_SECURE"],
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings["CRM_SESSION_COOKIE_SECURE"],
        MAX_CONTENT_LENGTH=settings["CRM_MAX_CONTENT_LENGTH"],
        # Forms are small; uploads (imports) are files, which MAX_CONTENT_LENGTH bounds.
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        MAX_FORM_PARTS=1000,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE=settings["CRM_TIMEZONE"],
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        PAGE_SIZE=50,
    )


def engine_options(url: str, settings: dict | None = None) -> dict:
    """SQLite: a file per process, no pool tuning. Elsewhere a pool sized for the server's threads
    (CRM_DB_POOL_SIZE, CRM_DB_MAX_OVERFLOW), checked before use and recycled before the server or
    a firewall drops idle connections."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    settings = settings or {}
    return {"pool_pre_ping": True, "pool_size": settings.get("CRM_DB_POOL_SIZE") or 5,
            "max_overflow": settings.get("CRM_DB_MAX_OVERFLOW", 10), "pool_recycle": 1800,
            "pool_timeout": 30}


def register_extensions(app: Flask) -> None:
    from crm import db_events
    from crm.columns import render_migration_type
    from crm.extensions import babel, csrf, db, login_manager, migrate
    from crm.i18n import select_locale

    db.init_app(app)
    with app.app_context():
        db_events.configure_engine(db.engine)
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True, render_as_batch=True,
        render_item=lambda type_, obj, ctx: (
            render_migration_type(obj, None, ctx) if type_ == "type" else False
        ),
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from crm.auth.services import load_user_from_session

    login_manager.user_loader(load_user_from_session)
    import crm.models  # noqa: F401  (every model registered)
    from crm.channels import hooks

    hooks.connect()  # the group robots hear of supervision orders and published bulletins


def register_inputs(app: Flask) -> None:
    """One input layer (crm/inputs.py): bounded ``<int:…>`` in paths, JSON within limits."""
    from crm import inputs

    inputs.register(app)


def register_blueprints(app: Flask) -> None:
    from crm.account.views import blueprint as account_bp
    from crm.admin.views import blueprint as admin_bp
    from crm.api import blueprint as api_bp
    from crm.auth.views import blueprint as auth_bp
    from crm.bulletin.issue_views import blueprint as bulletins_bp
    from crm.bulletin.views import blueprint as bulletin_bp
    from crm.channels.views import blueprint as channels_bp
    from crm.claims.views import blueprint as claims_bp
    from crm.companies.views import blueprint as companies_bp
    from crm.exports.views import blueprint as exports_bp
    from crm.imports.views import blueprint as imports_bp
    from crm.industries.views import blueprint as industries_bp
    from crm.leads.board import blueprint as board_bp
    from crm.leads.views import blueprint as leads_bp
    from crm.main.views import blueprint as main_bp
    from crm.moveback.views import blueprint as moveback_bp
    from crm.offline.views import blueprint as offline_bp
    from crm.permits.views import blueprint as permits_bp
    from crm.reminders.views import blueprint as reminders_bp
    from crm.reports.views import blueprint as reports_bp
    from crm.stats.views import blueprint as stats_bp
    from crm.supervision.views import blueprint as supervision_bp
    from crm.targets.views import blueprint as targets_bp
    from crm.visits.views import blueprint as visits_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(offline_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(leads_bp)
    app.register_blueprint(moveback_bp)
    app.register_blueprint(visits_bp)
    app.register_blueprint(permits_bp)
    app.register_blueprint(board_bp)
    app.register_blueprint(bulletin_bp)
    app.register_blueprint(bulletins_bp)
    app.register_blueprint(supervision_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(stats_bp)
    app.register_blueprint(targets_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(exports_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(channels_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(claims_bp)
    app.register_blueprint(industries_bp)
    app.register_blueprint(companies_bp)
    api_bp.register(app)


def register_errorhandlers(app: Flask) -> None:
    from crm.main.errors import register

    register(app)


def register_unit_of_work(app: Flask) -> None:
    """One transaction per request, committed when the view succeeded (crm/unit_of_work.py)."""
    from crm import unit_of_work

    unit_of_work.register(app)


def register_template_helpers(app: Flask) -> None:
    from crm.main.helpers import register

    register(app)


#: No inline scripts or styles, nothing from elsewhere, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


def register_security_headers(app: Flask) -> None:
    from flask import request, session

    @app.after_request
    def set_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # The session says whether someone is signed in; asking current_user here could query a
        # database that is down (then this answer must still go out, e.g. /healthz's 503).
        if request.endpoint != "static" and (
            request.path.startswith("/api/") or "_user_id" in session
        ):
            # Pages and API answers carry a user's data: never kept by a browser or proxy.
            headers["Cache-Control"] = "no-store"
        return response


def register_limits(app: Flask) -> None:
    """Trusted proxies (HTTPS seen by nginx counts as secure), body sizes and the API rate limit."""
    from flask import abort, request

    from crm.api import ratelimit

    proxies = app.config["CRM_PROXY_FIX"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies,
                                x_port=proxies)
    ratelimit.init_app(app)

    app.request_class = _limited_request_class(app.request_class)

    @app.before_request
    def limit_plain_bodies():
        # Only uploads (multipart) may come near MAX_CONTENT_LENGTH; a form or JSON body is small.
        # (Werkzeug applies MAX_FORM_MEMORY_SIZE to multipart text parts only.)
        length = request.content_length
        if (length is not None and request.mimetype != "multipart/form-data"
                and length > app.config["MAX_FORM_MEMORY_SIZE"]):
            abort(413)


def _limited_request_class(base):
    """``base`` whose body limit is MAX_FORM_MEMORY_SIZE (1 MB) unless it is an upload (multipart).

    Werkzeug applies ``max_content_length`` while the body is read, to a chunked body too (the
    servers we run, gunicorn and `crm serve`, set ``wsgi.input_terminated``): a body without a
    Content-Length is cut off and answered 413 at the limit instead of being read whole. Set on
    the request class, so it holds for whatever reads the body first (the CSRF check does, before
    any hook of ours).
    """
    from werkzeug.exceptions import RequestEntityTooLarge
    from werkzeug.utils import cached_property
    from werkzeug.wsgi import LimitedStream, get_input_stream

    class StrictLimit(LimitedStream):
        """Werkzeug's limit on a streamed body, but 413 when more was sent: its ``read()`` of the
        whole body stops quietly at the limit, which would parse a cut-off form or JSON."""

        def readall(self) -> bytes:
            data = super().readall()
            if self.is_exhausted and self._stream.read(1):
                raise RequestEntityTooLarge()
            return data

    class LimitedRequest(base):
        @cached_property
        def stream(self):
            stream = get_input_stream(self.environ, max_content_length=self.max_content_length)
            if isinstance(stream, LimitedStream) and stream._limit_is_max:
                return StrictLimit(stream._stream, stream.limit, is_max=True)
            return stream

        @property
        def max_content_length(self):
            limit = super().max_content_length
            if self._max_content_length is not None or self.mimetype == "multipart/form-data":
                return limit
            from flask import current_app

            small = current_app.config.get("MAX_FORM_MEMORY_SIZE") if current_app else None
            return small if limit is None else min(limit, small or limit)

        @max_content_length.setter
        def max_content_length(self, value):
            self._max_content_length = value

    return LimitedRequest
