"""GET /townships."""

from flask_smorest import Blueprint

from crm.api.auth import api_user, token_required
from crm.api.docs import errors
from crm.api.schemas import TownshipSchema
from crm.auth.permissions import visible_townships
from crm.extensions import db

bp = Blueprint("api_townships", __name__, description="The units the user may see")


@bp.route("/townships")
@bp.response(200, TownshipSchema(many=True))
@errors(bp)
@token_required
def townships():
    return db.session.scalars(visible_townships(api_user())).all()
