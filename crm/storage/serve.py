"""Sending a stored evidence file to a browser without letting it become a page of our site.

The type sent is the one the content check found (``FileInfo.content_type``), never one guessed
from a name; anything but PDF, JPEG, PNG and WebP goes out as ``application/octet-stream`` and
only as a download. ``inline`` (a PDF opening in the browser, an image shown large) is for those
four types only, in a sandbox with no scripts, no requests and no plugins of the page's origin.
"""

import posixpath
import re
from urllib.parse import quote

from flask import Response, has_request_context, request

#: What may be shown in the browser, and the extension a download of it gets.
INLINE_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
FALLBACK_TYPE = "application/octet-stream"

#: Shown in the browser: nothing loads or runs, framed only by our own pages (the claim page).
INLINE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"
#: A download: never framed, never a document.
ATTACHMENT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def download_name(filename: str | None, content_type: str) -> str:
    """The user's file name with the extension of what the file really is: ``合同.jpg`` holding a
    PDF downloads as ``合同.pdf``, ``photo.html`` holding a PNG as ``photo.png`` (a download's
    extension decides how the computer opens it)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip(" .") or "file"
    ext = INLINE_TYPES.get(content_type, ".bin")
    stem, old_ext = posixpath.splitext(name)
    if old_ext.lower() == ext or (ext == ".jpg" and old_ext.lower() in {".jpeg", ".jpe"}):
        return name
    if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", old_ext):  # an extension, not "v1.2 报告"
        name = stem or "file"
    return name + ext


def content_disposition(disposition: str, filename: str) -> str:
    """``attachment; filename="…"; filename*=UTF-8''…`` (RFC 6266 and RFC 5987): an ASCII name for
    old clients, the UTF-8 one (Chinese names) for every current browser."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename)
    stem, ext = posixpath.splitext(ascii_name)
    if not stem.strip("_ "):
        ascii_name = f"file{ext}"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(data: bytes, *, content_type: str, filename: str, inline: bool = False,
                  etag: str | None = None) -> Response:
    """A response sending ``data`` (a stored evidence file, or its thumbnail).

    ``content_type`` is the checked one from ``inspect_upload``; ``inline`` asks for the browser to
    show it (PDF and raster images only; anything else is always a download). Conditional and
    range requests (a PDF viewer's) are answered when called in a request.
    """
    servable = content_type in INLINE_TYPES
    mimetype = content_type if servable else FALLBACK_TYPE
    inline = inline and servable
    response = Response(data, mimetype=mimetype, direct_passthrough=False)
    headers = response.headers
    headers["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", download_name(filename, mimetype))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = INLINE_CSP if inline else ATTACHMENT_CSP
    headers["X-Frame-Options"] = "SAMEORIGIN" if inline else "DENY"
    # Other sites may not embed a signed-in user's evidence (<img src> from elsewhere).
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Cache-Control"] = "private, no-cache"
    if etag:
        response.set_etag(etag)
    if has_request_context():
        response = response.make_conditional(request, accept_ranges=True,
                                              complete_length=len(data))
    return response
