"""GET /me."""

from flask_smorest import Blueprint

from crm.api.auth import api_user, token_required
from crm.api.docs import errors
from crm.api.schemas import MeSchema

bp = Blueprint("api_me", __name__, description="The signed-in user")


@bp.route("/me")
@bp.response(200, MeSchema)
@errors(bp)
@token_required
def me():
    return api_user()
