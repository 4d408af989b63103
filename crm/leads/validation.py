"""Checks on a lead's identity fields: credit code, company name, phone."""

import datetime as dt
import re
import unicodedata

from flask_babel import lazy_gettext as _l

from crm.clock import today

#: GB 32100-2015: the code's alphabet (no I, O, S, V, Z) and the weights of positions 1–17.
_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "公司", "厂")
_PHONE = re.compile(r"^(\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{7,8})$")


def normalize_credit_code(code: str) -> str:
    return unicodedata.normalize("NFKC", code or "").strip().upper()


def credit_code_valid(code: str) -> bool:
    """Whether an 18-character 统一社会信用代码 has a correct check character."""
    code = normalize_credit_code(code)
    if len(code) != 18 or any(c not in _CODE_CHARS for c in code):
        return False
    total = sum(_CODE_CHARS.index(c) * w for c, w in zip(code[:17], _WEIGHTS, strict=True))
    check = (31 - total % 31) % 31
    return code[17] == _CODE_CHARS[check]


def company_key(name: str) -> str:
    """A company name reduced to what identifies it: 烟台中宠食品股份有限公司 → 烟台中宠食品."""
    key = unicodedata.normalize("NFKC", name or "")
    key = re.sub(r"\s+", "", key).lower()
    key = key.replace("（", "(").replace("）", ")")
    return strip_endings(key, _LEGAL_SUFFIXES)


def strip_endings(key: str, endings) -> str:
    """``key`` without any of ``endings`` at its end, again and again (…集团有限公司 → …), but
    never down to nothing."""
    changed = True
    while changed:
        changed = False
        for ending in endings:
            if key.endswith(ending) and len(key) > len(ending):
                key = key[: -len(ending)]
                changed = True
    return key


def phone_valid(phone: str) -> bool:
    phone = unicodedata.normalize("NFKC", phone or "").replace(" ", "")
    return bool(_PHONE.match(phone))


#: The one rule of a next follow-up (下次跟进) typed on a page (the lead form, the visit form:
#: ``crm.leads.forms.follow_up_not_past``): a day still to come, today at the earliest. The
#: services take a past one (history: an import, the demo data, a visit entered late).
FOLLOW_UP_PAST = _l("下次跟进日期不能早于今天")


def follow_up_in_past(day: dt.date | None, kept: dt.date | None = None) -> bool:
    """Whether ``day``, given as a next follow-up, is before today; ``kept`` (the date already on
    file, perhaps overdue) may be kept as it is."""
    return day is not None and day != kept and day < today()
