"""Finding an industry by its name or an alias: case-, width- and space-insensitive (NFKC)."""

import re
import unicodedata

import sqlalchemy as sa

from crm.extensions import db
from crm.industries.initial import UNSORTED
from crm.industries.models import Industry

_SPACE = re.compile(r"\s+")


def key(text: str | None) -> str:
    """The form names and aliases are compared in: NFKC (full-width → half-width), case-folded,
    without spaces. ``智能装备 / 机器人`` and ``智能装备/机器人`` are one key."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "")).casefold()


class IndustryIndex:
    """The whole list by key (one query; the list is short): ``find(text)``."""

    def __init__(self, industries):
        self.industries = list(industries)
        self.by_key: dict[str, Industry] = {}
        for industry in self.industries:
            for text in (industry.name, *industry.alias_list):
                self.by_key.setdefault(key(text), industry)

    @classmethod
    def load(cls) -> "IndustryIndex":
        return cls(db.session.scalars(sa.select(Industry).order_by(Industry.sort_order, Industry.id)))

    def find(self, text: str | None) -> Industry | None:
        """The industry named ``text`` (name or alias, active or not), else None."""
        return self.by_key.get(key(text)) if key(text) else None


def find(text: str | None) -> Industry | None:
    return IndustryIndex.load().find(text)


def is_unsorted(text: str | None) -> bool:
    return key(text) == key(UNSORTED)
