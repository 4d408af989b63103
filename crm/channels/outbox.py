"""Messages that domain changes add to the current unit of work (sent after it commits).

Small on purpose: the claim services import it, so it imports only the channels' models.
"""

import re

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from crm.auth.models import User
from crm.channels.dispatch import Message, enqueue
from crm.channels.models import Channel
from crm.extensions import db


def base_url() -> str:
    return current_app.config["CRM_BASE_URL"].rstrip("/")


def md(text) -> str:
    """User text inside a markdown line: one line, no link or emphasis marks."""
    return re.sub(r"[\[\]*_`#<>]", " ", " ".join(str(text or "").split())).strip()


def channels_of(township_id: int | None) -> list[Channel]:
    """The enabled channels of a unit (None: the district's)."""
    where = Channel.township_id.is_(None) if township_id is None else \
        Channel.township_id == township_id
    return list(db.session.scalars(sa.select(Channel).where(where, Channel.enabled.is_(True))
                                   .order_by(Channel.id)))


def mobiles(user_ids) -> list[str]:
    """The mobile numbers of the active users among ``user_ids`` that have one, in id order."""
    ids = [i for i in dict.fromkeys(user_ids) if i]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(User.mobile).where(
        User.id.in_(ids), User.active.is_(True), User.mobile.is_not(None), User.mobile != "")
        .order_by(User.id)))


def to_channels(township_id: int | None, kind: str, ref: str, title: str, body: str,
                mentions=(), link: str = "") -> list[Message]:
    return [Message(channel.id, kind, ref, title, body, list(mentions), link)
            for channel in channels_of(township_id)]


def claim_reviewed(claim, review) -> int:
    """A verified or returned claim, to its unit's channels, @-mentioning its officers."""
    from crm.claims.models import CLAIM_KIND_LABELS

    lead = claim.lead
    link = f"{base_url()}/claims/{claim.id}"
    kind = CLAIM_KIND_LABELS[claim.kind]
    if review.decision == "verify":
        title = _("申报已核验：%(lead)s", lead=md(lead.name))
        lines = [f"### {title}",
                 _("[%(lead)s](%(url)s) 的“%(kind)s”申报已核验通过（生效日期 %(d)s）。",
                   lead=md(lead.name), url=link, kind=kind, d=claim.effective_on.isoformat())]
    else:
        title = _("申报被退回：%(lead)s", lead=md(lead.name))
        lines = [f"### {title}",
                 _("[%(lead)s](%(url)s) 的“%(kind)s”申报被退回，请补充材料后重新提交。",
                   lead=md(lead.name), url=link, kind=kind),
                 _("退回意见：%(o)s", o=md(review.opinion))]
    reviewer = db.session.get(User, review.by_id)
    if reviewer is not None:
        lines.append(_("核验人：%(n)s", n=md(reviewer.display_name)))
    people = mobiles([claim.submitted_by_id, lead.primary_officer_id])
    return enqueue(to_channels(claim.township_id, "claim", f"review-{review.id}", title,
                               "\n\n".join(lines), people, link))
