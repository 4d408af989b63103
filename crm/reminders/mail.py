"""Rendering reminder mail and sending it: the `file` outbox or real SMTP (one connection)."""

import contextlib
import os
import smtplib
import ssl
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import SMTP, default
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale, get_translations
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import pass_context
from markupsafe import Markup, escape

from crm.auth.models import User
from crm.clock import business_tz, utcnow
from crm.leads.pipeline import STAGE_LABELS
from crm.targets.models import METRIC_LABELS

_UNSUBSCRIBE_SALT = "reminder-unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(user: User, kind: str) -> str:
    return _serializer().dumps({"u": user.id, "k": kind})


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(user id, kind) from a token, or None when it was tampered with."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in ("daily", "weekly") \
            or not isinstance(data.get("u"), int):
        return None
    return data["u"], data["k"]


class VerbatimHeader(UnstructuredHeader):
    """A header written as it is: ASCII, never turned into RFC 2047 encoded words.

    RFC 2369 (List-*), RFC 8058 and RFC 3834 headers are read by mail clients as they stand; an
    encoded word (which the default policy makes of a long URL) hides the unsubscribe link.
    A long value is folded only after a comma between its elements (``<a>, <b>``)."""

    max_count = 1

    def fold(self, *, policy):
        value = str(self)
        if not value.isascii():
            raise ValueError(f"{self.name}: only ASCII may go out verbatim")
        return f"{self.name}: {value.replace(', ', ',' + policy.linesep + ' ')}{policy.linesep}"


#: Headers a mail client reads as they stand (RFC 2369, RFC 8058, RFC 3834).
VERBATIM_HEADERS = ("list-unsubscribe", "list-unsubscribe-post", "list-id", "auto-submitted")


def _registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    for name in VERBATIM_HEADERS:
        registry.map_to_type(name, VerbatimHeader)
    return registry


#: How every message is built and written: the default policy (folded at 78, "\n" stored, sent
#: as CRLF), except that the structured list headers above are never encoded.
MAIL_POLICY = default.clone(header_factory=_registry())


def sender_address() -> Address:
    """``CRM_MAIL_FROM`` with its display name: the one it carries (``名称 <addr>``), else
    ``CRM_MAIL_FROM_NAME``."""
    name, address = parseaddr(current_app.config["CRM_MAIL_FROM"])
    name = name or current_app.config.get("CRM_MAIL_FROM_NAME") or ""
    return Address(display_name=name, addr_spec=address)


def render(digest) -> EmailMessage:
    """The digest as a multipart (text + HTML) message in the reader's language."""
    return Renderer().render(digest)


#: Stand-ins for the reader's name and unsubscribe link in a context rendered once for several
#: readers (``Digest.shared``): private-use characters, which no escaping changes.
_NAME_MARK = "\ue000name\ue000"
_URL_MARK = "\ue000unsubscribe\ue000"


class _Reader:
    """The reader as a shared rendering sees them: only the name, as a stand-in."""

    display_name = _NAME_MARK


class _Label(str):
    """A translated label (a lazy string resolved once per language): what it gives a
    template, as text and as HTML (``__html__``: unescaped), is the lazy string's."""

    def __html__(self):
        return str(self)


class Renderer:
    """Renders reminders, reusing per language what does not change between readers.

    The templates' ``_()`` looks the language's catalog up directly (not through Flask-Babel's
    request-bound lookup, per string), the labels are translated once per language, and a
    context shared by several readers (``Digest.shared``: the admins' ranking) is rendered once
    per language, the reader's name and unsubscribe link filled into the text afterwards, escaped
    for HTML as the template would have escaped them. The message is the one rendering each
    reader alone gives.
    """

    def __init__(self):
        self._languages: dict[str, dict] = {}
        self._shared: dict[tuple, tuple[str, str, str]] = {}

    def _language(self, locale: str) -> dict:
        """Inside ``force_locale(locale)``: the catalog functions and labels for templates."""
        if locale not in self._languages:
            translations = get_translations()
            self._languages[locale] = {
                "gettext": _new_gettext(translations.ugettext),
                "ngettext": _new_ngettext(translations.ungettext),
                "METRIC_LABELS": _labels(METRIC_LABELS),
                "STAGE_LABELS": _labels(STAGE_LABELS),
            }
        return self._languages[locale]

    def render(self, digest) -> EmailMessage:
        user = digest.user
        base = current_app.config["CRM_BASE_URL"].rstrip("/")
        # The reviewers' list is a daily mail: the daily preference turns it off.
        pref = digest.kind if digest.kind in ("daily", "weekly") else "daily"
        unsubscribe = f"{base}/reminders/unsubscribe/{unsubscribe_token(user, pref)}"
        if digest.shared:
            key = (id(digest.context), digest.kind, digest.period, digest.template, user.locale)
            if key not in self._shared:
                self._shared[key] = self._render(digest, _Reader(), base, _URL_MARK)
            subject, text, html = self._shared[key]
            text = text.replace(_URL_MARK, unsubscribe).replace(_NAME_MARK, user.display_name)
            html = html.replace(_URL_MARK, str(escape(unsubscribe))).replace(
                _NAME_MARK, str(escape(user.display_name)))
        else:
            subject, text, html = self._render(digest, user, base, unsubscribe)
        return _message(user, subject, text, html, unsubscribe)

    def _render(self, digest, user, base: str, unsubscribe: str) -> tuple[str, str, str]:
        """(subject, text, HTML) of ``digest`` for ``user`` in ``digest.user``'s language."""
        context = dict(digest.context, user=user, base_url=base, unsubscribe_url=unsubscribe,
                       METRIC_LABELS=METRIC_LABELS)
        with force_locale(digest.user.locale):
            context.update(self._language(digest.user.locale))
            subject = {
                "daily": lambda: _("【招商 CRM】今日跟进提醒 %(d)s", d=digest.period),
                "weekly": lambda: _("【招商 CRM】每周提醒 %(w)s", w=digest.period),
                "review": lambda: _("【招商 CRM】待核验超过5个工作日 %(d)s", d=digest.period),
                "dispute": lambda: _("【招商 CRM】撞单裁定：%(lead)s",
                                     lead=digest.context.get("lead") and
                                     digest.context["lead"].name),
                "supervision": lambda: _("【招商 CRM】约谈督办 %(n)s %(p)s",
                                         n=digest.context["order"].number_text,
                                         p=digest.context["order"].lead.name),
                "move_back": lambda: _("【招商 CRM】申请退回：%(lead)s",
                                       lead=digest.context["lead"].name)
                if digest.template == "move_back_request" else
                _("【招商 CRM】退回申请%(result)s：%(lead)s",
                  result=digest.context["move_request"].status_label,
                  lead=digest.context["lead"].name),
            }[digest.kind]()
            text = render_template(f"email/{digest.template}.txt", subject=subject, **context)
            html = render_template(f"email/{digest.template}.html", subject=subject, **context)
        return subject, text, html


def _labels(labels: dict) -> dict:
    """The lazy strings of ``labels`` translated now (as ``_Label``); anything else as it is."""
    return {k: _Label(v) if isinstance(v, LazyString) else v for k, v in labels.items()}


def _new_gettext(func):
    """Jinja's "newstyle" ``_()`` over ``func`` (as ``jinja2.ext`` makes it): escaped under
    autoescape, always %-formatted."""

    @pass_context
    def gettext(__context, __string, **variables):
        rv = func(__string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 (the catalog's text, as jinja2.ext does)
        return rv % variables

    return gettext


def _new_ngettext(func):
    @pass_context
    def ngettext(__context, __singular, __plural, __num, **variables):
        variables.setdefault("num", __num)
        rv = func(__singular, __plural, __num)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 (the catalog's text, as jinja2.ext does)
        return rv % variables

    return ngettext


def _message(user, subject: str, text: str, html: str, unsubscribe: str) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = subject
    message["From"] = sender_address()
    message["To"] = user.email
    # The business timezone's offset (+0800), as the reader's clock shows the time.
    message["Date"] = format_datetime(utcnow().astimezone(business_tz()).replace(microsecond=0))
    message["Message-ID"] = make_msgid(domain="zhaoshang.crm")
    # RFC 2369 and RFC 8058: the client's unsubscribe button POSTs "List-Unsubscribe=One-Click"
    # to the link, which unsubscribes without a session (crm/reminders/views.py).
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # RFC 3834: sent by a program; auto-responders (out of office) do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class MailError(Exception):
    pass


class FileOutbox:
    """Each message as an .eml file in instance/outbox/ (the default backend).

    A message is written to a hidden temporary file beside it, flushed to disk, then renamed: a
    full disk or a crash leaves no partial .eml, and a retry replaces rather than duplicates.
    """

    def __init__(self):
        self.folder = Path(current_app.instance_path) / "outbox"

    def __enter__(self):
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailError(f"outbox: {exc}") from exc
        return self

    def __exit__(self, *exc):
        return False

    def send(self, raw: str, name: str) -> None:
        path = self.folder / f"{name}.eml"
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise MailError(f"outbox: {exc}") from exc


class SmtpSender:
    """One SMTP connection for a batch; a timeout so a hung server never hangs the run."""

    def __init__(self):
        cfg = current_app.config
        self.host, self.port = cfg["CRM_SMTP_HOST"], int(cfg["CRM_SMTP_PORT"])
        self.security = (cfg["CRM_SMTP_SECURITY"] or "none").lower()
        self.username, self.password = cfg["CRM_SMTP_USERNAME"], cfg["CRM_SMTP_PASSWORD"]
        self.timeout = cfg["CRM_SMTP_TIMEOUT"]
        self.sender = parseaddr(cfg["CRM_MAIL_FROM"])[1]  # the envelope: the bare address
        self.smtp = None
        self.lost: str | None = None  # why the connection is gone, once it is

    def __enter__(self):
        try:
            if self.security == "ssl":
                self.smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                             context=ssl.create_default_context())
            else:
                self.smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self._hello()
            if self.security == "starttls":
                self.smtp.starttls(context=ssl.create_default_context())
            if self.username:
                self.smtp.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            if self.smtp is not None:
                self.smtp.close()
                self.smtp = None
            raise MailError(f"smtp {self.host}:{self.port}: {_reason(exc)}") from exc
        return self

    def _hello(self) -> None:
        """EHLO (else HELO) now, so that a server answering "421" says so in the error rather
        than smtplib finding the connection closed later."""
        code, reply = self.smtp.ehlo()
        if not 200 <= code <= 299 and code != 421:
            code, reply = self.smtp.helo()
        if not 200 <= code <= 299:
            raise smtplib.SMTPHeloError(code, reply)

    def __exit__(self, *exc):
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        return False

    def send(self, raw: str, name: str) -> None:
        """Send one message. Once the connection is lost (a timeout, a reset, a 421) the rest of
        the batch fails at once with that reason: a hung server costs one timeout, not one each."""
        if self.lost:
            raise MailError(self.lost)
        # The stored message goes out as it is: only its headers are read (for the recipients);
        # parsing and re-writing the whole MIME message for each mail cost more than sending it.
        headers = HeaderParser(policy=SMTP).parsestr(raw, headersonly=True)
        recipients = [address for _name, address in
                      getaddresses([*headers.get_all("To", []), *headers.get_all("Cc", [])])]
        data = raw.replace("\r\n", "\n").replace("\n", "\r\n").encode()
        try:
            self.smtp.sendmail(self.sender, recipients, data)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"smtp {self.host}:{self.port}: {_reason(exc)}"
            gone = isinstance(exc, smtplib.SMTPServerDisconnected) or (
                not isinstance(exc, smtplib.SMTPException))  # a timeout or a reset
            if gone or self.smtp.sock is None:  # smtplib hangs up itself after a 421
                self.smtp.close()
                self.lost = error
            raise MailError(error) from exc


def _reason(exc: Exception) -> str:
    """The server's answer ("421 Service not available") or the network error, in one line."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode(errors='replace')}"
                         for rcpt, (code, msg) in exc.recipients.items())
    code = getattr(exc, "smtp_code", None)
    if code is not None:
        message = exc.smtp_error
        if isinstance(message, bytes):
            message = message.decode(errors="replace")
        return f"{code} {' '.join(str(message).split())}"
    return f"{type(exc).__name__}: {exc}"


def sender():
    backend = current_app.config["CRM_MAIL_BACKEND"]
    return SmtpSender() if backend == "smtp" else FileOutbox()
