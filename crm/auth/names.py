"""Usernames and e-mail addresses, normalised in one place for every way in.

The admin forms, `crm users create`, the sign-in page and its throttle all go through here:

- a username is NFKC-normalised (full-width ``ａｄｍｉｎ`` is ``admin``) and compared case-folded:
  ``Admin`` and ``admin`` are one account, one sign-in throttle, and cannot both exist;
- a new username may not contain spaces, control characters or format characters (zero-width
  spaces, bidi overrides such as U+202E), which would make two names look alike;
- an e-mail address is exactly one address (no lists, no display names), checked by
  email-validator; intranet domains such as ``.local`` are allowed (no deliverability check).
"""

import unicodedata

import email_validator
from flask_babel import lazy_gettext as _l

from crm.errors import DomainError

MAX_USERNAME = 64
MAX_EMAIL = 254


def _invisible(char: str) -> bool:
    """Control (Cc), format (Cf: zero-width, bidi), unassigned, private and surrogate characters."""
    return unicodedata.category(char) in {"Cc", "Cf", "Cn", "Co", "Cs"}


def normalise_username(raw: str | None) -> str:
    """The username as stored: NFKC, surrounding spaces removed (case kept for display)."""
    return unicodedata.normalize("NFKC", raw or "").strip()


def username_key(raw: str | None) -> str:
    """What usernames are compared by: NFKC, case-folded, with invisible characters dropped.

    Dropping them (rather than refusing) here means ``admin\\u200b`` typed at sign-in meets
    ``admin``'s throttle instead of a fresh one; such names are refused when an account is made.
    Cut to 64 characters, the width of the sign-in log's column.
    """
    text = unicodedata.normalize("NFKC", raw or "")
    text = "".join(c for c in text if not _invisible(c))
    return unicodedata.normalize("NFKC", text.casefold()).strip()[:MAX_USERNAME]


def check_username(raw: str | None) -> str:
    """The normalised username for a new account, or DomainError ``{"username": [...]}``."""
    name = normalise_username(raw)
    if not name or len(name) > MAX_USERNAME or any(c.isspace() for c in name):
        raise _fail("username", _l("用户名不能为空，不能含空格"))
    if any(_invisible(c) for c in name):
        raise _fail("username", _l("用户名不能含控制字符或不可见字符（如零宽空格、文字方向符）"))
    return name


def normalise_email(raw: str | None) -> str:
    """Exactly one address, normalised (domain lower-cased), or DomainError ``{"email": [...]}``."""
    text = unicodedata.normalize("NFC", (raw or "").strip())
    if not text or len(text) > MAX_EMAIL or any(_invisible(c) or c.isspace() for c in text):
        raise _fail("email", _l("邮箱地址无效"))
    local, at, domain = text.rpartition("@")
    labels = domain.rstrip(".").split(".")
    # email-validator refuses special-use names (.local, .test) outright; an intranet mail domain
    # may be one, so those are checked as if they ended in .test (which it may be told to accept).
    special = labels[-1].lower() in email_validator.SPECIAL_USE_DOMAIN_NAMES
    probe = ".".join([*labels[:-1], "test"]) if special else domain
    try:
        result = email_validator.validate_email(
            f"{local}{at}{probe}", check_deliverability=False, test_environment=True,
            globally_deliverable=False, allow_display_name=False, allow_quoted_local=False,
            allow_domain_literal=False, allow_empty_local=False)
    except email_validator.EmailNotValidError:
        raise _fail("email", _l("邮箱地址无效（只能填写一个地址）")) from None
    return f"{result.local_part}@{domain.lower() if special else result.domain}"


def _fail(field: str, message) -> DomainError:
    return DomainError(message, {field: [message]})
