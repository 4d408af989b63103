"""An industry of the managed list (产业目录)."""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db

#: Aliases are stored in one text column, one alias a line.
ALIAS_SEPARATOR = "\n"


class Industry(db.Model):
    """One industry: its name, its 产业链 and the other spellings that mean it.

    A lead points at one (``Lead.industry_id``); a deactivated industry is offered no more but
    keeps its leads. Names and aliases are unique across the list once normalised
    (``crm.industries.lookup.key``), which the service checks.
    """

    __tablename__ = "industries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: 产业链: the chain the statistics total it under.
    chain: Mapped[str] = mapped_column(sa.String(64), default="")
    #: Other spellings, one a line (ALIAS_SEPARATOR); matched like the name.
    aliases: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self):
        return f"<Industry {self.id} {self.name}>"

    @property
    def alias_list(self) -> list[str]:
        return [a for a in (self.aliases or "").split(ALIAS_SEPARATOR) if a]
