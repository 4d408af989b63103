"""What an uploaded evidence file really is: checked by content, never by its name."""

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from crm.storage import sha256_hex

#: Content types accepted as evidence, by their leading bytes.
ACCEPTED = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


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
    width: int | None = None
    height: int | None = None
    #: From a photo's EXIF, when present and sane.
    taken_at: dt.datetime | None = None
    gps: tuple[float, float] | None = None
    #: A small JPEG for image previews, or None.
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


def inspect_upload(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> FileInfo:
    """Check ``data`` and describe it; raise EvidenceRefused (nothing is stored by this function)."""
    if not data:
        raise EvidenceRefused(_l("文件为空"))
    if len(data) > max_bytes:
        raise EvidenceRefused(_l("文件过大，上限为 %(mb)s MB", mb=f"{max_bytes / 1048576:g}"))
    content_type = sniff(data)
    if content_type is None:
        raise EvidenceRefused(_l("只接受 PDF、JPEG、PNG 或 WebP 文件"))
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "file"
    return FileInfo(content_type=content_type, size=len(data), sha256=sha256_hex(data), filename=name)
