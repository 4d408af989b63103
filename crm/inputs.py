"""One input layer: the numbers, dates and text a request may carry, checked the same way by
forms, query strings, URL converters and the API (docs/security.md, "Hostile input").

- numbers: finite decimals within a field's range and places; integers of at most 20 digits
  within 64 bits and a field's range ("Infinity", "NaN", "sNaN", "1e400" are not numbers here);
- dates: ``YYYY-MM-DD`` within 2000-01-01..2100-12-31 (a field may narrow it further);
- text: NUL, other control characters (tab and line breaks kept) and format characters
  (zero-width, bidi overrides, …) are removed; required text needs a visible character;
- JSON bodies: nesting depth ≤ 32, integers ≤ 20 digits, no NaN/Infinity, checked before parsing.

A core module: it imports no domain package, so every layer above may use it.
"""

import builtins
import datetime as dt
import json
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from babel import support
from flask.json.provider import DefaultJSONProvider
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter
from wtforms import DateField, DecimalField, IntegerField, PasswordField, StringField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, StopValidation

DATE_MIN, DATE_MAX = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
YEAR_MIN, YEAR_MAX = DATE_MIN.year, DATE_MAX.year
INT64_MAX = 2**63 - 1
#: Ids and other integers the database stores in an INTEGER column.
DB_INT_MAX = 2**31 - 1
#: Amounts (万元, 亩) are Fixed columns: value × 10⁴ in a BIGINT; a typing error long before that.
AMOUNT_LIMIT = Decimal("1e12")
MAX_INT_DIGITS = 20
MAX_JSON_DEPTH = 32

NOT_A_NUMBER = _l("须为数字")
NOT_AN_INTEGER = _l("须为整数")
NEGATIVE = _l("须为不小于0的数字")
TOO_LARGE = _l("数值过大")
BAD_DATE = _l("日期格式应为 YYYY-MM-DD")
DATE_RANGE = _l("日期须在2000-01-01至2100-12-31之间")
INVISIBLE = _l("须含有可见的文字")
#: An API body (or a part of one) that is not a JSON object: malformed, answered 400.
NOT_AN_OBJECT = _l("须为 JSON 对象")


class Invalid(ValueError):
    """A value the input layer refuses; ``message`` says why (translated, lazy)."""

    kind = "invalid"

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


# --- numbers -----------------------------------------------------------------------------------

_INTEGER = re.compile(rf"[+-]?\d{{1,{MAX_INT_DIGITS}}}", re.ASCII)


def _finite(value, message) -> Decimal:
    """``value`` as a finite Decimal, else Invalid(``message``)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise Invalid(message) from exc
    if not amount.is_finite():
        raise Invalid(message)
    return amount


def to_decimal(value, *, minimum: Decimal | int | None = 0, below: Decimal = AMOUNT_LIMIT,
               places: int = 4, positive: bool = False) -> Decimal:
    """A finite Decimal in [minimum, below) with at most ``places`` decimals; else Invalid."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise Invalid(NOT_A_NUMBER)
    text = unicodedata.normalize("NFKC", str(value)).strip() if isinstance(value, str) else value
    if isinstance(text, str) and len(text) > 64:
        raise Invalid(TOO_LARGE if text.lstrip("+-").replace(".", "").isdigit() else NOT_A_NUMBER)
    amount = _finite(text, NOT_A_NUMBER)
    if minimum is not None and amount < minimum:
        raise Invalid(NEGATIVE if minimum == 0 else _l("须不小于%(n)s", n=minimum))
    if positive and amount <= 0:
        raise Invalid(_l("须大于0"))
    if amount >= below:
        raise Invalid(TOO_LARGE)
    if amount.as_tuple().exponent < -places:
        raise Invalid(_l("最多保留%(places)s位小数", places=places))
    return amount


#: An amount of 万元 that is not one: one sentence, with the ways it may be written.
WAN_FORMAT = _l("须为数字，可写作 15000、15,000、1.5亿或15000万（不带单位按万元计）")
WAN_UNIT = _l("金额单位须为万元或亿元")
_WAN = re.compile(r"([+-]?\d+(?:\.\d+)?)(亿元|亿|万元|万)?", re.ASCII)
_OTHER_UNIT = re.compile(r"[+-]?\d+(?:\.\d+)?(元|千元|百万元?|千万元?|美元|港元|欧元)", re.ASCII)


def to_wan(value, *, in_yi: bool = False, places: int = 4, positive: bool = False,
           below: Decimal = AMOUNT_LIMIT) -> Decimal:
    """An amount of money in 万元, as people write it: 15000, 15,000, 1.5亿, 1.5 亿元, 15000万
    (a number without a unit is in 万元, or in 亿元 when ``in_yi``: a column headed 亿元).
    The one parser of amounts typed on the pages, sent as text to the API and read from an
    imported file; then the bounds of ``to_decimal``. A spreadsheet's number (a float) is
    rounded half-even to ``places``; typed text must have at most ``places`` decimals."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise Invalid(WAN_FORMAT)
    unit = None
    if isinstance(value, str):
        text = re.sub(r"[\s,，]", "", unicodedata.normalize("NFKC", value))
        if len(text) > 64:
            raise Invalid(TOO_LARGE if text.lstrip("+-").replace(".", "").isdigit()
                          else WAN_FORMAT)
        match = _WAN.fullmatch(text)
        if not match:
            raise Invalid(WAN_UNIT if _OTHER_UNIT.fullmatch(text) else WAN_FORMAT)
        amount, unit = Decimal(match.group(1)), match.group(2)
    else:
        amount = _finite(value, WAN_FORMAT)
        if isinstance(value, float) and amount.as_tuple().exponent < -places:
            amount = amount.quantize(Decimal(1).scaleb(-places))
    if unit in ("亿", "亿元") or (unit is None and in_yi):
        amount *= 10000
    amount = to_decimal(amount, places=places, positive=positive, below=below)
    if amount == amount.to_integral_value():
        return amount.quantize(Decimal(1))
    return amount.normalize()


def to_int(value, *, minimum: int | None = 0, maximum: int = INT64_MAX) -> int:
    """An integer of at most 20 digits within [minimum, maximum]; else Invalid."""
    if isinstance(value, bool):
        raise Invalid(NOT_AN_INTEGER)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if not _INTEGER.fullmatch(text):
            raise Invalid(TOO_LARGE if text.lstrip("+-").isdigit() else NOT_AN_INTEGER)
        value = int(text)
    if not isinstance(value, int):
        raise Invalid(NOT_AN_INTEGER)
    if minimum is not None and value < minimum:
        raise Invalid(_l("须为不小于0的整数") if minimum == 0 else _l("须不小于%(n)s", n=minimum))
    if value > min(maximum, INT64_MAX):
        raise Invalid(TOO_LARGE)
    return value


def to_id(value) -> int:
    """A select's id (0 for none): what the database's INTEGER holds; else Invalid (a
    ValueError, so a WTForms ``coerce`` refuses it as a choice)."""
    return 0 if value in (None, "") else to_int(value, minimum=0, maximum=DB_INT_MAX)


def to_year(value) -> int:
    """A year within 2000..2100."""
    try:
        year = to_int(value, minimum=YEAR_MIN, maximum=YEAR_MAX)
    except Invalid as exc:
        raise Invalid(_l("年份须在%(lo)s至%(hi)s之间", lo=YEAR_MIN, hi=YEAR_MAX)) from exc
    return year


def int_arg(args, name: str, *, minimum: int = 1, maximum: int = DB_INT_MAX) -> int | None:
    """A query-string integer (an id, a page): None when absent, malformed or out of range."""
    try:
        return to_int(args.get(name) or "", minimum=minimum, maximum=maximum)
    except Invalid:
        return None


def filter_args(args, *, search: str | None = None, ids: tuple[str, ...] = (),
                choices: dict | None = None) -> dict:
    """A list page's filters from a query string, each kept only when valid: ``search`` names
    the free-text argument (trimmed, at most 100 characters), ``ids`` the id arguments,
    ``choices`` maps an argument to the values it may take. Unknown and malformed values are
    dropped, so a filter link never fails."""
    found = {}
    if search and (text := (args.get(search) or "").strip()[:100]):
        found[search] = text
    for name in ids:
        if value := int_arg(args, name):
            found[name] = value
    for name, allowed in (choices or {}).items():
        if args.get(name) in allowed:
            found[name] = args[name]
    return found


def fallback_arg(args, name: str, parse, default, *, what, shown: str):
    """A page's date, month or year in the query string, the one rule for every page: parsed by
    ``parse`` (Invalid when malformed or out of range); ``default`` when absent; ``default``
    with a warning flashed when invalid (``what``“abc”无效，已按 ``shown`` 显示（why）), so a bad
    link shows the default page instead of failing."""
    from flask import flash
    from flask_babel import gettext

    text = clean_text(args.get(name) or "").strip()
    if not text:
        return default
    try:
        return parse(text)
    except Invalid as exc:
        flash(gettext("%(what)s“%(v)s”无效，已按%(shown)s显示（%(why)s）", what=what,
                      v=text[:20], shown=shown, why=exc.message), "warning")
        return default


def date_or_default(args, name: str, default: dt.date, *, what=None) -> dt.date:
    """``?as_of=2026-06-30`` (or another date): ``fallback_arg``'s rule."""
    return fallback_arg(args, name, to_date, default, what=what or _l("日期"),
                        shown=default.isoformat())


def year_or_default(args, name: str, default: int) -> int:
    """``?year=2026``: ``fallback_arg``'s rule."""
    return fallback_arg(args, name, to_year, default, what=_l("年份"),
                        shown=_l("%(y)s年", y=default))


_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


def to_month(value: str) -> tuple[int, int]:
    """``YYYY-MM`` within 2000..2100: (year, month); else Invalid."""
    match = _MONTH.fullmatch(unicodedata.normalize("NFKC", value or "").strip())
    if not match or not (YEAR_MIN <= int(match[1]) <= YEAR_MAX and 1 <= int(match[2]) <= 12):
        raise Invalid(_l("月份格式应为 YYYY-MM"))
    return int(match[1]), int(match[2])


def month_or_default(args, name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``?month=2026-06``: ``fallback_arg``'s rule."""
    return fallback_arg(args, name, to_month, default, what=_l("月份"),
                        shown=f"{default[0]}-{default[1]:02d}")


def page_arg(args, maximum: int = 100_000) -> int:
    """``?page=``: 1 when absent or malformed, at most ``maximum``."""
    return min(int_arg(args, "page", maximum=INT64_MAX) or 1, maximum)


# --- dates -------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def to_date(value, *, earliest: dt.date = DATE_MIN, latest: dt.date = DATE_MAX) -> dt.date:
    """A ``YYYY-MM-DD`` date (or a date) within [earliest, latest] and 2000..2100; else Invalid
    (``kind`` "late" when after ``latest``)."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if not _DATE.fullmatch(text):
            raise Invalid(BAD_DATE)
        try:
            value = dt.date.fromisoformat(text)
        except ValueError as exc:
            raise Invalid(BAD_DATE) from exc
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise Invalid(BAD_DATE)
    earliest, latest = max(earliest, DATE_MIN), min(latest, DATE_MAX)
    if not earliest <= value <= latest:
        problem = Invalid(DATE_RANGE if (earliest, latest) == (DATE_MIN, DATE_MAX) else _l(
            "日期须在%(lo)s至%(hi)s之间", lo=earliest.isoformat(), hi=latest.isoformat()))
        problem.kind = "late" if value > latest else "early"
        raise problem
    return value


#: The same range as a pattern, for the OpenAPI document (JSON Schema cannot bound a date).
DATE_PATTERN = r"^(20\d\d|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"


def date_arg(args, name: str) -> dt.date | None:
    """A query-string date: None when absent; Invalid when malformed or out of range."""
    text = (args.get(name) or "").strip()
    return to_date(text) if text else None


# --- text --------------------------------------------------------------------------------------

#: Letters that draw nothing (Hangul fillers, the braille blank, the Mongolian vowel separator).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")
_KEPT_CONTROLS = frozenset("\t\n\r")


def _removed(char: str) -> bool:
    category = unicodedata.category(char)
    return (category in ("Cf", "Cs") or (category == "Cc" and char not in _KEPT_CONTROLS))


def _removal_table() -> dict:
    return {cp: None for cp in range(0x110000) if _removed(chr(cp))}


_REMOVE: dict | None = None


def clean_text(value):
    """``value`` without NUL, control characters (tab and line breaks kept) and format
    characters (zero-width, bidi overrides, soft hyphen, BOM, …); other values unchanged."""
    global _REMOVE  # noqa: PLW0603 (built once, on first use: nothing at import time)
    if not isinstance(value, str):
        return value
    if value.isascii() and value.isprintable():
        return value
    if _REMOVE is None:
        _REMOVE = _removal_table()
    return value.translate(_REMOVE)


def _invisible(char: str) -> bool:
    return (char.isspace() or char in _BLANK_LETTERS
            or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"))


def has_visible(text) -> bool:
    """Whether ``text`` has a character that shows (not space, control, format or a blank)."""
    return isinstance(text, str) and any(not _invisible(c) for c in text)


# --- forms -------------------------------------------------------------------------------------

class _WTFormsMessages:
    """WTForms' own messages (``Not a valid integer value.`` …) in the reader's language, each
    catalog read once per process (Flask-WTF reads it from disk again in every request)."""

    _catalogs: dict[str, support.Translations] = {}

    def _catalog(self) -> support.Translations:
        locale = str(get_locale())
        catalog = self._catalogs.get(locale)
        if catalog is None:
            catalog = support.Translations.load(messages_path(), [locale], domain="wtforms")
            self._catalogs[locale] = catalog
        return catalog

    def gettext(self, string):
        return self._catalog().ugettext(string)

    def ngettext(self, singular, plural, n):
        return self._catalog().ungettext(singular, plural, n)


_WTFORMS_MESSAGES = _WTFormsMessages()


class Form(FlaskForm):
    """The base of every form: Flask-WTF's CSRF, WTForms' messages from a cached catalog."""

    class Meta:
        def get_translations(self, form):
            return _WTFORMS_MESSAGES


class InputForm(Form):
    """Every form's base: the text of each string field (not passwords) is cleaned.

    ``raw_fields`` names fields left as typed, because their own validation refuses what
    cleaning would hide (a username or e-mail with an invisible character is refused, not
    silently made to look like another).
    """

    raw_fields: tuple[str, ...] = ()

    class Meta(Form.Meta):
        def bind_field(self, form, unbound_field, options):
            field_class = unbound_field.field_class
            if (issubclass(field_class, StringField) and not issubclass(field_class, PasswordField)
                    and options.get("name") not in form.raw_fields):
                filters = unbound_field.kwargs.get("filters") or ()
                unbound_field.kwargs["filters"] = (clean_text, *filters)
            return unbound_field.bind(form=form, **options)


class Required(DataRequired):
    """DataRequired, where text must have a visible character."""

    def __call__(self, form, field):
        if isinstance(field.data, str) and not has_visible(field.data):
            field.errors[:] = []
            raise StopValidation(self.message or INVISIBLE)
        super().__call__(form, field)


class _Bounded:
    """A number field whose text is read by ``parse`` within ``bounds``; empty is None."""

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and valuelist[0].strip():
            try:
                self.data = self.parse(valuelist[0], **self.bounds)
            except Invalid as exc:
                raise ValueError(exc.message) from exc


class AmountField(_Bounded, DecimalField):
    """A finite amount within [minimum, below) with at most ``places`` decimals; ``wan``: an
    amount of money in 万元, written as ``to_wan`` reads it (1.5亿, 15000万)."""

    def __init__(self, label=None, validators=None, *, places: int = 4, minimum=0,
                 below: Decimal = AMOUNT_LIMIT, positive: bool = False, wan: bool = False,
                 **kwargs):
        super().__init__(label, validators, places=places, **kwargs)
        self.wan = wan
        self.bounds = {"places": places, "below": below, "positive": positive}
        if not wan:
            self.bounds["minimum"] = minimum

    def parse(self, text, **bounds):
        return (to_wan if self.wan else to_decimal)(text, **bounds)


class WholeField(_Bounded, IntegerField):
    """An integer within [minimum, maximum] (64-bit at most)."""

    def __init__(self, label=None, validators=None, *, minimum: int = 0,
                 maximum: int = INT64_MAX, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.bounds = {"minimum": minimum, "maximum": maximum}

    parse = staticmethod(to_int)


class DayField(DateField):
    """A ``YYYY-MM-DD`` date within 2000..2100, or narrower bounds (dates, or callables such as
    ``today``); ``too_late`` names the rule of a date after ``latest``."""

    def __init__(self, label=None, validators=None, *, earliest=DATE_MIN, latest=DATE_MAX,
                 too_late=None, **kwargs):
        super().__init__(label, validators, format="%Y-%m-%d", **kwargs)
        self.earliest, self.latest, self.too_late = earliest, latest, too_late

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and valuelist[0].strip():
            bounds = {name: bound() if callable(bound) else bound
                      for name, bound in (("earliest", self.earliest), ("latest", self.latest))}
            try:
                self.data = to_date(valuelist[0], **bounds)
            except Invalid as exc:
                late = exc.kind == "late" and self.too_late
                raise ValueError(self.too_late if late else exc.message) from exc


# --- URL converters ----------------------------------------------------------------------------

class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` for the whole app: at most 10 digits and within the database's INTEGER, so
    a huge number in a path is simply not found (404), never an overflow."""

    regex = r"\d{1,10}"

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=DB_INT_MAX if max is None else builtins.min(max, DB_INT_MAX),
                         signed=signed)
        if signed:
            self.regex = r"-?\d{1,10}"


# --- JSON bodies -------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_LONG_INTEGER = re.compile(rf"(?<![.\d])\d{{{MAX_INT_DIGITS + 1},}}")
_CONSTANT = re.compile(r"(?<![\w$])-?(NaN|Infinity)(?![\w$])")
_BRACKET = re.compile(r"[\[\]{}]")


def json_problem(text: str) -> str | None:
    """Why a JSON text is refused before it is parsed (too deep, a huge integer, NaN or
    Infinity), or None. Linear in the text; strings are skipped, never looked into."""
    bare = _STRING.sub('""', text)
    if _LONG_INTEGER.search(bare):
        return str(_l("整数最多%(n)s位", n=MAX_INT_DIGITS))
    if _CONSTANT.search(bare):
        return str(NOT_A_NUMBER)
    depth = 0
    for match in _BRACKET.finditer(bare):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return str(_l("嵌套层数不能超过%(n)s", n=MAX_JSON_DEPTH))
    return None


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def loads_checked(text):
    """``json.loads`` within the limits above; ValueError (a JSON error) otherwise."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    problem = json_problem(text)
    if problem:
        raise ValueError(problem)
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


class CheckedJSONProvider(DefaultJSONProvider):
    """The app's JSON (``request.get_json``): the limits above, checked before parsing."""

    def loads(self, s, **kwargs):
        return loads_checked(s)


def register(app) -> None:
    """The bounded ``int`` converter, the checked JSON provider, and JSON bodies checked before
    any view (or the API's own parser) reads them: 400 in the API's error format."""
    from flask import abort, jsonify, request
    from flask_babel import gettext

    app.url_map.converters["int"] = BoundedIntConverter
    app.json = CheckedJSONProvider(app)

    @app.before_request
    def clean_query_string():
        """Query parameters are text like any other: cleaned before any view reads them (a
        NUL would otherwise reach the database, which refuses it)."""
        args = request.args
        if any(clean_text(k) != k or clean_text(v) != v for k, v in args.items(multi=True)):
            request.args = ImmutableMultiDict(
                [(clean_text(k), clean_text(v)) for k, v in args.items(multi=True)])

    @app.before_request
    def check_json_body():
        if not request.is_json or request.routing_exception is not None:
            return None
        try:
            problem = json_problem(request.get_data(cache=True).decode("utf-8"))
        except UnicodeDecodeError:
            problem = str(_l("请求内容须为 UTF-8 编码的 JSON"))
        if problem is None:
            return None
        if not request.path.startswith("/api/"):
            abort(400)
        return jsonify(error={"code": "bad_request", "message": gettext("请求有误，请检查后重试。"),
                              "fields": {"body": [problem]}}), 400
