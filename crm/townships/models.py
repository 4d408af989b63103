"""The unit model."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db

KINDS = ("town", "subdistrict", "zone", "bureau")
KIND_LABELS = {
    "town": _l("镇"),
    "subdistrict": _l("街道"),
    "zone": _l("开发区"),
    "bureau": _l("局"),
}


class Township(db.Model):
    __tablename__ = "townships"
    __table_args__ = (sa.CheckConstraint(sa.column("kind").in_(KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="town")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self):
        return f"<Township {self.id} {self.name}>"

    @property
    def kind_label(self):
        return KIND_LABELS[self.kind]
