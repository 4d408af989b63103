"""Channel secrets at rest: Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) with a
key derived from CRM_SECRET_KEY. Changing CRM_SECRET_KEY makes stored secrets unreadable: the
channels must then be given their URL and secret again (their messages fail until then)."""

import base64

from flask import current_app

#: Stored values start with the scheme that wrote them.
FERNET = "f1:"


class SecretUnreadable(Exception):
    """A stored secret that this key cannot read (CRM_SECRET_KEY changed)."""


def _fernet():
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"crm-channels",
               info=b"channel secrets v1").derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plain: str) -> str:
    """The value to store for ``plain`` ("" stays "")."""
    if not plain:
        return ""
    return FERNET + _fernet().encrypt(plain.encode()).decode("ascii")


def unseal(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(FERNET):
        raise SecretUnreadable("unknown format")
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(stored[len(FERNET):].encode("ascii")).decode()
    except InvalidToken:
        raise SecretUnreadable("the secret key changed") from None


def last4(secret: str) -> str:
    """What is ever shown of a secret: its last 4 characters, after a mark."""
    return f"…{secret[-4:]}" if secret else ""
