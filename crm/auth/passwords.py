"""The password policy: long enough, not a common password, not a pattern, not the username.

One rule for every way a password is set: ``crm users create``, the password change page and the
administrator's reset all go through ``crm.auth.services.check_password_strength``, which asks here.
"""

import functools
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from crm.errors import DomainError

DEFAULT_MIN_LENGTH = 8
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")

#: Keyboard rows and columns, the alphabet and digits (wrapping), as people walk them. A password
#: that reads along one of these (either way) is refused.
SEQUENCES = (
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "`1234567890-=",
    "!@#$%^&*()_+",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "1a2b3c4d5e6f7g8h9i",
    "a1b2c3d4e5f6g7h8i9",
    "1!2@3#4$5%6^7&8*9(0)",
    "qweasdzxc",
    "147258369147258369",
    "159357159357",
    "789456123789456123",
    "741852963741852963",
)


def min_length() -> int:
    if has_app_context():
        return int(current_app.config.get("CRM_PASSWORD_MIN_LENGTH", DEFAULT_MIN_LENGTH))
    return DEFAULT_MIN_LENGTH


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lower-cased; ``#`` lines are comments."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as f:
        return frozenset(
            line.strip().lower() for line in f if line.strip() and not line.startswith("#")
        )


def is_common(password: str) -> bool:
    return password.strip().lower() in common_passwords()


def is_sequence(text: str) -> bool:
    """Read straight along a keyboard row or column, the alphabet or the digits (either way)."""
    text = text.lower()
    return len(text) >= 3 and any(text in seq or text in seq[::-1] for seq in SEQUENCES)


def is_repetition(password: str) -> bool:
    """One character, or a short piece or a sequence said again: aaaaaaaa, abcabcabc, 12341234."""
    text = password.lower()
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size:
            continue
        unit = text[:size]
        if unit * (len(text) // size) == text and (size <= 3 or is_sequence(unit)):
            return True
    return False


def contains_username(password: str, username: str | None) -> bool:
    name = (username or "").strip().lower()
    if len(name) < 3:  # "a" or "li" would refuse half of all passwords
        return False
    text = password.lower()
    return name in text or name[::-1] in text


def problems(password: str, username: str | None = None) -> list:
    """What is wrong with ``password``, as messages for the user (empty when it is acceptable)."""
    password = password or ""
    found = []
    n = min_length()
    if len(password) < n:
        found.append(_l("密码至少%(n)s位", n=n))
    if not password:
        return found
    if is_repetition(password):
        found.append(_l("密码不能由同一个字符或一小段字符重复组成（如 aaaaaaaa、abcabcabc）"))
    elif is_sequence(password):
        found.append(_l("密码不能是连续的数字、字母或键盘顺序（如 12345678、qwertyui、1qaz2wsx）"))
    elif is_common(password):
        found.append(_l("这是常见密码，很容易被猜中，请换一个"))
    if contains_username(password, username):
        found.append(_l("密码不能包含用户名"))
    return found


def check(password: str, username: str | None = None) -> None:
    """Raise DomainError ``{"password": [...]}`` when the password breaks the policy."""
    found = problems(password, username)
    if found:
        raise DomainError(found[0], {"password": found})
