"""Bearer-token authentication for the API."""

from functools import wraps

from flask import abort, g, request
from flask.views import MethodView

from crm.auth.services import user_for_token_and_commit


def api_user():
    return g.api_user


def authenticate() -> None:
    """Set ``g.api_user`` from ``Authorization: Bearer <token>``, else answer 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        abort(401)
    # The rate limiter may have looked the token up already in this request.
    user = g.api_token_user if "api_token_user" in g else user_for_token_and_commit(raw.strip())
    if user is None:
        abort(401)
    g.api_user = user


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    return wrapper


class TokenView(MethodView):
    """A resource of the API: every method needs a bearer token."""

    decorators = [token_required]
