"""Files sent as downloads: a Chinese name for browsers, an ASCII one for everything else."""

from urllib.parse import quote

from flask import send_file


def content_disposition(name: str, ascii_name: str) -> str:
    """``attachment; filename="leads-2026-12-02.xlsx"; filename*=UTF-8''项目…`` (RFC 6266, RFC 5987).

    ``ascii_name`` is what a client without RFC 5987 (``curl -OJ``, old mail gateways) saves:
    a real name, never one reduced to ``.xlsx`` or ``-2026-12-02.xlsx``."""
    if not ascii_name.isascii() or any(ch in ascii_name for ch in '"\\;/') \
            or ascii_name.startswith(".") or not ascii_name.isprintable():
        raise ValueError(f"not a safe ASCII file name: {ascii_name!r}")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def send_download(stream, *, mimetype: str, name: str, ascii_name: str):
    """``send_file`` of a stream as an attachment named ``name`` (ASCII fallback ``ascii_name``),
    never cached."""
    response = send_file(stream, mimetype=mimetype, as_attachment=True, max_age=0,
                         download_name=ascii_name)
    response.headers["Content-Disposition"] = content_disposition(name, ascii_name)
    return response
