"""Serving evidence: the checked type, a download by default, inline only for PDF and images."""

import pytest
from flask import Flask
from werkzeug.http import parse_options_header

from crm.storage import sha256_hex
from crm.storage.serve import content_disposition, download_name, file_response

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def tiny():
    app = Flask(__name__)
    files = {
        "pdf": (PDF, "application/pdf", "施工许可证（盖章）.jpg"),
        "png": (b"\x89PNG fake", "image/png", "现场照片.png"),
        "html": (b"<script>alert(1)</script>", "text/html", "报告.html"),
        "svg": (b"<svg onload=alert(1)>", "image/svg+xml", "logo.svg"),
    }

    @app.route("/files/<name>")
    def serve(name):
        from flask import request

        data, content_type, filename = files[name]
        return file_response(data, content_type=content_type, filename=filename,
                             inline=request.args.get("inline") == "1", etag=sha256_hex(data))

    return app.test_client()


def _disposition(response):
    kind, options = parse_options_header(response.headers["Content-Disposition"])
    return kind, options


def test_a_download_names_the_file_in_utf8_with_its_real_extension(tiny):
    response = tiny.get("/files/pdf")
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    kind, options = _disposition(response)
    assert kind == "attachment"
    assert options["filename"] == "施工许可证（盖章）.pdf"  # filename*=UTF-8''… decoded
    raw = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E6%96%BD%E5%B7%A5" in raw and 'filename="file.pdf"' in raw
    assert raw.isascii()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == \
        "default-src 'none'; sandbox; frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize("name, content_type", [("pdf", "application/pdf"), ("png", "image/png")])
def test_pdfs_and_images_open_inline_in_a_sandbox(tiny, name, content_type):
    response = tiny.get(f"/files/{name}?inline=1")
    assert response.mimetype == content_type
    assert _disposition(response)[0] == "inline"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "frame-ancestors 'self'" in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"  # the claim page may frame it
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["html", "svg"])
@pytest.mark.parametrize("inline", ["0", "1"])
def test_html_and_svg_are_never_shown_only_downloaded_as_bytes(tiny, name, inline):
    response = tiny.get(f"/files/{name}?inline={inline}")
    assert response.mimetype == "application/octet-stream"
    kind, options = _disposition(response)
    assert kind == "attachment" and options["filename"].endswith(".bin")
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_revalidation_and_ranges_for_pdf_viewers(tiny):
    first = tiny.get("/files/pdf?inline=1")
    again = tiny.get("/files/pdf?inline=1", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    part = tiny.get("/files/pdf?inline=1", headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.data == b"%PDF-1.7"


@pytest.mark.parametrize("filename, content_type, expected", [
    ("合同.jpg", "application/pdf", "合同.pdf"),
    ("合同.PDF", "application/pdf", "合同.PDF"),
    ("photo.jpeg", "image/jpeg", "photo.jpeg"),
    ("photo.html", "image/png", "photo.png"),
    ("截图", "image/webp", "截图.webp"),
    ("v1.2 报告", "application/pdf", "v1.2 报告.pdf"),
    ("../../x.svg", "text/html", "x.bin"),
    ("", "image/jpeg", "file.jpg"),
])
def test_download_names(filename, content_type, expected):
    assert download_name(filename, content_type) == expected


def test_header_injection_is_impossible():
    header = content_disposition("attachment", 'a"; filename="evil.html\r\nX: y.pdf')
    assert "\r" not in header and "\n" not in header
    kind, options = parse_options_header(header)
    assert options["filename"].endswith(".pdf")


def test_the_apps_own_headers_do_not_override_the_files(tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    app.add_url_rule("/t/pdf", "t_pdf", lambda: file_response(
        PDF, content_type="application/pdf", filename="合同.pdf", inline=True))
    response = app.test_client().get("/t/pdf")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
