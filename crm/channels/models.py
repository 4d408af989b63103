"""Channels (a group robot of a unit or of the district), their message log and their sends."""

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.columns import UTCDateTime
from crm.extensions import db
from crm.outbox import OutboxRow
from crm.townships.models import Township

WECOM, DINGTALK = "wecom", "dingtalk"
KINDS = (WECOM, DINGTALK)
KIND_LABELS = {WECOM: _l("企业微信"), DINGTALK: _l("钉钉")}

#: What a message is about. ``daily``: a unit's follow-ups due or overdue (period: the date);
#: ``claim``: a claim verified or returned (ref: the review); ``bulletin``: a published bulletin;
#: ``supervision``: a supervision order issued, escalated or overdue.
MESSAGE_KINDS = ("daily", "claim", "bulletin", "supervision")
MESSAGE_KIND_LABELS = {"daily": _l("每日跟进"), "claim": _l("申报核验"), "bulletin": _l("通报发布"),
                       "supervision": _l("督办")}
STATUSES = ("pending", "sent")


class Channel(db.Model):
    """A group robot's webhook. The URL (its key or access token is the secret) and DingTalk's
    signing secret are stored encrypted (crm/channels/crypto.py) and shown only by their last 4
    characters."""

    __tablename__ = "channels"
    __table_args__ = (sa.CheckConstraint(sa.column("kind").in_(KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: None: the district's channel; else the unit whose group it is.
    township_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("townships.id", ondelete="CASCADE"), index=True)
    #: The webhook URL, encrypted (it holds the robot's key).
    url_secret: Mapped[str] = mapped_column(sa.Text)
    #: The URL with its key cut to the last 4 characters, for display.
    url_hint: Mapped[str] = mapped_column(sa.String(300))
    #: DingTalk's 加签 secret, encrypted; "" when the robot is not signed.
    signing_secret: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    signing_hint: Mapped[str] = mapped_column(sa.String(8), default="", server_default="")
    #: DingTalk's 自定义关键词: every message carries it (else the robot refuses it).
    keyword: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: Every request made to the robot; its row is locked while a send slot is taken
    #: (crm/channels/dispatch.py), so processes take the per-minute slots one at a time.
    sends_total: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    township: Mapped[Township | None] = relationship()

    def __repr__(self):
        return f"<Channel {self.id} {self.name} {self.kind}>"

    @property
    def kind_label(self):
        return KIND_LABELS[self.kind]

    @property
    def scope_label(self):
        return self.township.name if self.township else _l("全区")


class ChannelDispatch(OutboxRow, db.Model):
    """One message to one channel; unique per (channel, kind, ref): exactly once, as for mail."""

    __tablename__ = "channel_dispatches"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "kind", "ref"),
        sa.CheckConstraint(sa.column("kind").in_(MESSAGE_KINDS), name="kind"),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status"),
        sa.Index("ix_channel_dispatches_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The object or period: ``2026-11-25`` (daily), ``review-12``, ``bulletin-2026-3``, …
    ref: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The message in markdown, composed when claimed: a retry sends exactly this.
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: Mobile numbers to @-mention, comma-separated.
    mentions: Mapped[str] = mapped_column(sa.Text, default="")
    #: The page a cut message links to.
    link: Mapped[str] = mapped_column(sa.String(500), default="")

    channel: Mapped[Channel] = relationship()


class ChannelSend(db.Model):
    """One request made to a robot: the per-minute limit counts these (pruned after an hour)."""

    __tablename__ = "channel_sends"
    __table_args__ = (sa.Index("ix_channel_sends_channel_at", "channel_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
