"""GET /industries: the managed industry list (the active ones, in the list's order)."""

import sqlalchemy as sa
from flask_smorest import Blueprint

from crm.api.auth import token_required
from crm.api.docs import errors
from crm.api.schemas import IndustrySchema
from crm.extensions import db
from crm.industries.models import Industry

bp = Blueprint("api_industries", __name__, description="The managed industry list (产业目录)")


@bp.route("/industries")
@bp.response(200, IndustrySchema(many=True))
@errors(bp)
@token_required
def industries():
    return db.session.scalars(
        sa.select(Industry).where(Industry.active).order_by(Industry.sort_order, Industry.id)).all()
