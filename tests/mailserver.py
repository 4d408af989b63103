"""A real SMTP server for tests (aiosmtpd on a loopback port) and the reminder tests' workday."""

import datetime as dt
import email
import socket
from email import policy

from aiosmtpd.controller import Controller

TUESDAY = dt.date(2026, 11, 24)  # a workday


class Inbox:
    def __init__(self):
        self.messages = []
        self.raw = []  # the bytes as they came over SMTP, one per message
        self.envelope_from = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.raw.append(envelope.original_content or envelope.content)
        self.envelope_from.append(envelope.mail_from)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if m["To"] == address]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Smtp:
    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()
