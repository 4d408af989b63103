"""GET /me and GET /townships."""

from flask_smorest import Blueprint

from crm.api.auth import api_user, token_required
from crm.api.docs import errors
from crm.api.schemas import MeSchema, TownshipSchema
from crm.auth.permissions import visible_townships
from crm.extensions import db

bp = Blueprint("api_me", __name__, description="The signed-in user")
townships_bp = Blueprint("api_townships", __name__, description="The units the user may see")


def blueprints():
    return [bp, townships_bp]


@bp.route("/me")
@bp.response(200, MeSchema)
@errors(bp)
@token_required
def me():
    return api_user()


@townships_bp.route("/townships")
@townships_bp.response(200, TownshipSchema(many=True))
@errors(townships_bp)
@token_required
def townships():
    return db.session.scalars(visible_townships(api_user())).all()
