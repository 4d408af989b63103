"""What an uploaded evidence file really is: checked by content, never by its name.

``inspect_upload`` accepts PDF, JPEG, PNG and WebP and refuses, with a message for the user,
anything else and anything built to fool a viewer: HTML or SVG under an image's name, a file that
is two formats at once (an image or PDF with a web page, a second PDF header or a ZIP archive in
it), an image that does not decode, a decompression bomb, a PDF carrying scripts or embedded
files. It stores nothing: the caller stores the bytes (``crm.storage``) only after it returns.

The content decides the type: a PDF named ``合同.jpg`` is a PDF (``FileInfo.content_type``), its
name is kept as the user gave it, and downloads get the extension of the real type
(``crm.storage.serve.download_name``).
"""

import contextlib
import datetime as dt
import io
import math
import re
import unicodedata
import warnings
import zlib
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from crm.storage import sha256_hex

#: Content types accepted as evidence, by their leading bytes.
ACCEPTED = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

#: Largest image accepted, in pixels. JPEG photos are decoded at a reduced scale (draft mode), so
#: Pillow's own default limit (≈ 89.5 M pixels: a 50 MP phone photo is fine, 108 MP is refused)
#: costs little memory; PNG and WebP decode in full (4 bytes a pixel), so they stop at 40 M pixels.
MAX_PIXELS = {"JPEG": 89_478_485, "PNG": 40_000_000, "WEBP": 40_000_000}
THUMBNAIL_SIZE = 320
MAX_NAME_LENGTH = 200

#: Markup that turns a file into a web page when a browser (or a PDF reader) sniffs its start.
_MARKUP = re.compile(
    rb"<\s*(?:html|script|body|head|iframe|svg|object|embed|frameset|!doctype)"
    rb"|javascript:|<\?php", re.IGNORECASE)
#: PDF names that run code or carry other files (matched after #xx escapes are decoded).
_PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA)(?![A-Za-z0-9])")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_PDF_INFLATE_BUDGET = 64 * 1024 * 1024  # decompressed bytes scanned per PDF, at most


class EvidenceRefused(Exception):
    """The file is not acceptable evidence; ``message`` says why in the user's language."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class FileInfo:
    content_type: str
    size: int
    sha256: str
    filename: str
    #: As displayed (EXIF orientation applied).
    width: int | None = None
    height: int | None = None
    #: From a photo's EXIF (DateTimeOriginal), as the camera wrote it (its local time, naive),
    #: when present and sane.
    taken_at: dt.datetime | None = None
    #: (latitude, longitude) in decimal degrees (south and west negative), from EXIF GPS.
    gps: tuple[float, float] | None = None
    #: A small JPEG for image previews (at most 320 px, no metadata), or None.
    thumbnail: bytes | None = None


def sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_filename(filename: str | None) -> str:
    """The user's file name without folders, control or direction-changing characters (a
    right-to-left override can show ``gpj.exe`` as ``exe.jpg``), at most 200 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"})
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:MAX_NAME_LENGTH - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 \
            else name[:MAX_NAME_LENGTH]
    return name or "file"


def inspect_upload(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> FileInfo:
    """Check ``data`` and describe it; raise EvidenceRefused (nothing is stored by this function)."""
    if not data:
        raise EvidenceRefused(_l("文件为空"))
    if len(data) > max_bytes:
        raise EvidenceRefused(_l("文件过大，上限为 %(mb)s MB", mb=format(max_bytes / 1048576, "g")))
    data = bytes(data)
    content_type = sniff(data)
    if content_type is None:
        if _MARKUP.search(data[:1024]) or data.lstrip()[:5].lower() in {b"<?xml", b"<svg "}:
            raise EvidenceRefused(
                _l("网页、SVG 或脚本文件不能作为佐证材料，只接受 PDF、JPEG、PNG 或 WebP 文件"))
        raise EvidenceRefused(_l("只接受 PDF、JPEG、PNG 或 WebP 文件"))
    _refuse_polyglot(data, content_type)
    name = clean_filename(filename)
    base = FileInfo(content_type=content_type, size=len(data), sha256=sha256_hex(data), filename=name)
    if content_type == "application/pdf":
        _check_pdf(data)
    else:
        base = _inspect_image(data, base)
    _refuse_disguise(name, content_type)  # after the content checks: a broken file says so first
    return base


#: What a file's extension promises; a file whose content is another accepted type is refused
#: (a contract renamed 现场.jpg, a photo renamed 合同.pdf: the reviewer would be misled).
EXTENSION_TYPES = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                   ".jpe": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def _refuse_disguise(name: str, content_type: str) -> None:
    dot = name.rfind(".")
    promised = EXTENSION_TYPES.get(name[dot:].lower()) if dot >= 0 else None
    if promised is not None and promised != content_type:
        raise EvidenceRefused(_l("文件扩展名（%(ext)s）与内容（%(kind)s）不符，请用原始文件上传",
                                 ext=name[dot:], kind=ACCEPTED[content_type].lstrip(".").upper()))


# --- two formats in one file ---------------------------------------------------------------


def _refuse_polyglot(data: bytes, content_type: str) -> None:
    head = data[:1024]
    polyglot = _l("文件同时是两种格式（可能被改造过），不能作为佐证材料；请重新导出或拍照后上传")
    if _MARKUP.search(head):
        raise EvidenceRefused(polyglot)
    # PDF readers look for the header anywhere in the first KB: an image with one is both.
    if content_type != "application/pdf" and b"%PDF-" in head:
        raise EvidenceRefused(polyglot)
    if content_type == "application/pdf" and b"%PDF-" in data[5:1024]:
        raise EvidenceRefused(polyglot)
    if _ends_with_zip(data):
        raise EvidenceRefused(polyglot)


def _ends_with_zip(data: bytes) -> bool:
    """A ZIP archive (also .docx, .jar, .apk) is read from its end: an end-of-central-directory
    record whose comment runs exactly to the end of the file makes any file a ZIP too."""
    tail_start = max(0, len(data) - 22 - 65535)
    at = data.rfind(b"PK\x05\x06", tail_start)
    while at != -1:
        if at + 22 <= len(data):
            comment = int.from_bytes(data[at + 20:at + 22], "little")
            if at + 22 + comment == len(data):
                return True
        at = data.rfind(b"PK\x05\x06", tail_start, at)
    return False


# --- PDF --------------------------------------------------------------------------------------


def _check_pdf(data: bytes) -> None:
    if not re.match(rb"%PDF-[12]\.\d", data):
        raise EvidenceRefused(_l("PDF 文件已损坏或不完整，请重新导出后上传"))
    end = data.rfind(b"%%EOF")
    # Nothing but line ends and padding after the last %%EOF: a truncated upload has none, and a
    # page, an archive or a second document appended after it is no longer just a PDF.
    if end == -1 or data[end + 5:].strip(b"\r\n\t \x00"):
        raise EvidenceRefused(_l("PDF 文件已损坏或不完整，请重新导出后上传"))
    if _pdf_has_active_content(data):
        raise EvidenceRefused(_l("PDF 含有脚本、附件或表单程序，不能作为佐证材料；请“打印为 PDF”后重新上传"))


def _pdf_has_active_content(data: bytes) -> bool:
    def active(chunk: bytes) -> bool:
        if b"#" in chunk:
            chunk = _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), chunk)
        return bool(_PDF_ACTIVE.search(chunk))

    if active(data):
        return True
    # Object streams hide dictionaries inside compressed streams: look inside them too, within a
    # budget (a small stream may inflate enormously: a zip bomb inside the PDF).
    budget = _PDF_INFLATE_BUDGET
    for match in _PDF_STREAM.finditer(data):
        if budget <= 0:
            return False
        start = match.end()
        stop = data.find(b"endstream", start)
        if stop == -1:
            break
        inflater = zlib.decompressobj()
        try:
            inflated = inflater.decompress(data[start:stop], budget)
        except zlib.error:
            continue
        budget -= len(inflated)
        if active(inflated):
            return True
    return False


# --- images -----------------------------------------------------------------------------------


def _inspect_image(data: bytes, base: FileInfo) -> FileInfo:
    from PIL import Image, ImageOps, UnidentifiedImageError

    fmt = IMAGE_TYPES[base.content_type]
    broken = _l("图片已损坏或无法识别，请重新拍照或导出后上传")
    too_large = _l("图片像素过多（可能是恶意构造的文件），不能作为佐证材料")
    with warnings.catch_warnings():
        # Pillow warns (instead of refusing) between its limit and twice it: refuse there too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": handled as None
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                if probe.format != fmt:
                    raise EvidenceRefused(broken)
                width, height = probe.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS[fmt]:
                    raise EvidenceRefused(too_large)
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                if fmt == "JPEG":
                    # Decode at a reduced scale (down to 1/8, still at least the thumbnail's size):
                    # every block is still decoded, so a damaged file still fails, in a fraction
                    # of the memory.
                    image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                image.load()
                exif = _read_exif(image)
                thumbnail = _thumbnail(image, ImageOps)
        except EvidenceRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise EvidenceRefused(too_large) from None
        except (UnidentifiedImageError, MemoryError, Exception):  # Pillow's many ways to fail
            raise EvidenceRefused(broken) from None
    orientation = exif["orientation"]
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return FileInfo(content_type=base.content_type, size=base.size, sha256=base.sha256,
                    filename=base.filename, width=width, height=height,
                    taken_at=exif["taken_at"], gps=exif["gps"], thumbnail=thumbnail)


def _thumbnail(image, ImageOps) -> bytes:  # noqa: N803  (the module, passed in)
    from PIL import Image

    with contextlib.suppress(Exception):  # garbage orientation: keep the pixels as they are
        image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    else:
        image = image.copy()
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, optimize=True)  # no exif=, no icc: metadata stripped
    return out.getvalue()


# --- EXIF: garbage never raises, it just gives None -----------------------------------------

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _ORIENTATION = 0x9003, 0x9004, 0x0112


def _read_exif(image) -> dict:
    found = {"taken_at": None, "gps": None, "orientation": None}
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001
        return found
    for reader, field in ((lambda: _orientation(exif), "orientation"),
                          (lambda: _taken_at(exif), "taken_at"),
                          (lambda: _gps(exif), "gps")):
        try:
            found[field] = reader()
        except Exception:  # noqa: BLE001  (a tag of the wrong type, a zero denominator, …)
            found[field] = None
    return found


def _orientation(exif) -> int | None:
    value = exif.get(_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _taken_at(exif) -> dt.datetime | None:
    ifd = exif.get_ifd(_EXIF_IFD)
    for tag in (_DATETIME_ORIGINAL, _DATETIME_DIGITIZED):
        value = ifd.get(tag)
        parsed = parse_exif_datetime(value)
        if parsed is not None:
            return parsed
    return None


def parse_exif_datetime(value) -> dt.datetime | None:
    """``"2026:03:14 09:26:53"`` (EXIF's form) → a datetime; anything odd → None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*\x00*", value)
    if not match:
        return None
    try:
        when = dt.datetime(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    # Cameras with a flat clock battery say 1970 or 2000-01-01; a date after tomorrow is no date.
    if when.year < 1990 or when > dt.datetime.now() + dt.timedelta(days=2):
        return None
    return when


def _gps(exif) -> tuple[float, float] | None:
    ifd = exif.get_ifd(_GPS_IFD)
    if not ifd:
        return None
    lat = _degrees(ifd.get(2), ifd.get(1), {"N": 1, "S": -1}, 90)
    lon = _degrees(ifd.get(4), ifd.get(3), {"E": 1, "W": -1}, 180)
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    return round(lat, 6), round(lon, 6)


def _degrees(dms, ref, signs: dict, limit: float) -> float | None:
    """Degrees, minutes, seconds (EXIF rationals) and a N/S/E/W reference → decimal degrees."""
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if not isinstance(ref, str) or ref.strip("\x00 ").upper() not in signs:
        return None
    if not isinstance(dms, tuple | list) or not 1 <= len(dms) <= 3:
        return None
    parts = [_rational(v) for v in dms]
    if any(p is None or p < 0 for p in parts):
        return None
    parts += [0.0] * (3 - len(parts))
    degrees, minutes, seconds = parts
    if minutes >= 60 or seconds >= 60:
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if value > limit:
        return None
    return signs[ref.strip("\x00 ").upper()] * value


def _rational(value) -> float | None:
    if isinstance(value, tuple) and len(value) == 2:  # (numerator, denominator)
        if not value[1]:
            return None
        value = value[0] / value[1]
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def store_upload(data: bytes, filename: str, storage=None, max_bytes: int | None = None) -> FileInfo:
    """Inspect ``data`` and, only when it is acceptable, store it; the FileInfo's ``sha256`` is the
    storage key. ``storage`` and ``max_bytes`` default to the app's (CRM_MAX_ATTACHMENT_BYTES).
    The thumbnail is not stored: keep ``info.thumbnail`` with the attachment, or ``put`` it too."""
    if max_bytes is None or storage is None:
        from flask import current_app

        from crm.storage import get_storage

        if max_bytes is None:
            max_bytes = current_app.config.get("CRM_MAX_ATTACHMENT_BYTES") or DEFAULT_MAX_BYTES
        storage = storage if storage is not None else get_storage()
    info = inspect_upload(data, filename, max_bytes)
    key = storage.put(data)
    assert key == info.sha256
    return info
