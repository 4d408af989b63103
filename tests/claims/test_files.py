"""Evidence files checked by content: real files made with Pillow, hostile ones made by hand."""

import datetime as dt
import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from crm.claims.files import (
    EvidenceRefused,
    FileInfo,
    clean_filename,
    inspect_upload,
    parse_exif_datetime,
    store_upload,
)
from crm.storage import LocalStorage, sha256_hex

# --- makers -------------------------------------------------------------------------------------


def jpeg(size=(1200, 900), exif=None, colour=(30, 120, 200), **save):
    out = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.paste((250, 20, 20), (0, 0, size[0] // 4, size[1] // 8))  # a red mark at the top left
    image.save(out, "JPEG", quality=85, **({"exif": exif} if exif is not None else {}), **save)
    return out.getvalue()


def png(size=(400, 300), mode="RGBA", pnginfo=None):
    out = io.BytesIO()
    Image.new(mode, size, (0, 128, 0, 128) if mode == "RGBA" else 0).save(out, "PNG", pnginfo=pnginfo)
    return out.getvalue()


def webp(size=(640, 480)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 200, 0)).save(out, "WEBP")
    return out.getvalue()


def pdf():
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


def handmade_pdf(body: bytes) -> bytes:
    return b"%PDF-1.7\n" + body + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png_header_only(width, height) -> bytes:
    """A PNG that announces ``width`` × ``height`` pixels in a few dozen bytes (a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000, 9)) + png_chunk(b"IEND", b""))


def photo_exif(orientation=None):
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2026:03:14 09:26:53"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "E"
    gps[2] = (IFDRational(36, 1), IFDRational(41, 1), IFDRational(3042, 100))  # 36°41'30.42"
    gps[4] = (IFDRational(117, 1), IFDRational(3, 1), IFDRational(0, 1))
    return exif


def refused(data, filename="file.bin", **kwargs) -> str:
    with pytest.raises(EvidenceRefused) as caught:
        inspect_upload(data, filename, **kwargs)
    return str(caught.value.message)


# --- what is accepted ---------------------------------------------------------------------------


def test_a_photo_gives_capture_time_gps_size_and_a_clean_thumbnail():
    data = jpeg(exif=photo_exif())
    info = inspect_upload(data, "C:\\Users\\张三\\现场照片.JPG")
    assert isinstance(info, FileInfo)
    assert info.content_type == "image/jpeg"
    assert (info.size, info.sha256) == (len(data), sha256_hex(data))
    assert info.filename == "现场照片.JPG"
    assert (info.width, info.height) == (1200, 900)
    assert info.taken_at == dt.datetime(2026, 3, 14, 9, 26, 53)
    assert info.gps == (round(36 + 41 / 60 + 30.42 / 3600, 6), 117.05)
    thumb = Image.open(io.BytesIO(info.thumbnail))
    assert thumb.format == "JPEG" and thumb.size == (320, 240)
    assert not thumb.getexif() and "exif" not in thumb.info  # location and time stripped


def test_south_and_west_are_negative():
    exif = photo_exif()
    exif.get_ifd(0x8825)[1], exif.get_ifd(0x8825)[3] = "S", "W"
    info = inspect_upload(jpeg(exif=exif), "x.jpg")
    assert info.gps[0] < 0 and info.gps[1] < 0


def test_the_thumbnail_is_turned_as_the_phone_held_it():
    # orientation 6: the pixels are stored landscape, shown rotated 90° clockwise (portrait)
    info = inspect_upload(jpeg(size=(800, 600), exif=photo_exif(orientation=6)), "竖拍.jpg")
    assert (info.width, info.height) == (600, 800)
    thumb = Image.open(io.BytesIO(info.thumbnail)).convert("RGB")
    assert thumb.size == (240, 320)
    # the red mark at the stored top left ends up at the top right
    assert thumb.getpixel((235, 3))[0] > 200 and thumb.getpixel((3, 3))[0] < 100


@pytest.mark.parametrize("maker, content_type", [(png, "image/png"), (webp, "image/webp")])
def test_png_and_webp(maker, content_type):
    info = inspect_upload(maker(), "截图")
    assert info.content_type == content_type
    assert info.taken_at is None and info.gps is None
    thumb = Image.open(io.BytesIO(info.thumbnail))
    assert thumb.format == "JPEG" and max(thumb.size) == 320 and thumb.mode == "RGB"


def test_a_pdf_named_jpg_is_refused():
    assert "与内容（PDF）不符" in refused(pdf(), "合同.jpg")


def test_a_photo_named_pdf_is_refused():
    assert "与内容（JPG）不符" in refused(jpeg(), "合同.pdf")


def test_a_pdf_without_an_extension_is_a_pdf():
    info = inspect_upload(pdf(), "合同")
    assert info.content_type == "application/pdf"
    assert info.filename == "合同"  # the user's name is kept; the type comes from the content
    assert info.thumbnail is None and info.width is None


# --- what is refused, each with a message -------------------------------------------------------


def test_an_empty_file():
    assert "文件为空" in refused(b"", "a.pdf")


def test_an_over_limit_file():
    data = pdf()
    assert "上限为 1 MB" in refused(data + b"\n" * (1024 * 1024), "big.pdf", max_bytes=1024 * 1024)
    assert inspect_upload(data, "ok.pdf", max_bytes=len(data)).size == len(data)
    assert "文件过大" in refused(data, "a.pdf", max_bytes=len(data) - 1)


@pytest.mark.parametrize("data", [
    b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    b"  <html><img src=x onerror=alert(1)>",
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
])
def test_html_or_svg_named_as_an_image(data):
    assert "网页、SVG 或脚本文件" in refused(data, "photo.png")


@pytest.mark.parametrize("data", [b"GIF89a\x01\x00\x01\x00", b"PK\x03\x04 a docx", b"MZ\x90\x00 exe",
                                  b"just some text", b"\x00" * 100])
def test_other_types(data):
    assert "只接受 PDF、JPEG、PNG 或 WebP 文件" in refused(data, "x.jpg")


def _png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    return png(pnginfo=info)


@pytest.mark.parametrize("data", [
    pytest.param(_png_with_text("<script>alert(1)</script>"), id="png-with-script"),
    pytest.param(_png_with_text("<html><body>hi"), id="png-with-html"),
    pytest.param(jpeg(comment=b"%PDF-1.4 1 0 obj"), id="jpeg-that-is-also-a-pdf"),
    pytest.param(handmade_pdf(b"% <html><script>alert(1)</script>"), id="pdf-with-html"),
    pytest.param(b"%PDF-1.4\n%PDF-1.7\n" + pdf()[9:], id="pdf-two-headers"),
])
def test_polyglots_with_markup_or_a_second_header(data):
    assert "同时是两种格式" in refused(data, "x.png")


def _with_zip(data: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.html", "<script>alert(1)</script>")
    return data + archive.getvalue()


@pytest.mark.parametrize("maker", [jpeg, png, webp, pdf])
def test_a_file_that_is_also_a_zip_archive(maker):
    assert "同时是两种格式" in refused(_with_zip(maker()), "x.jpg")


def test_a_pdf_with_a_page_appended_after_its_end():
    assert "PDF 文件已损坏或不完整" in refused(pdf() + b"<p>not part of the pdf</p>", "a.pdf")
    assert "PDF 文件已损坏或不完整" in refused(pdf()[:-200], "truncated.pdf")
    assert "PDF 文件已损坏或不完整" in refused(b"%PDF-x.y\n%%EOF\n", "odd.pdf")
    assert inspect_upload(pdf() + b"\r\n\x00\x00", "padded.pdf").content_type == "application/pdf"


@pytest.mark.parametrize("body", [
    b"1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj",
    b"1 0 obj << /OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> >> endobj",
    b"1 0 obj << /A << /S /Launch /F (cmd.exe) >> >> endobj",
    b"1 0 obj << /Names << /EmbeddedFiles 2 0 R >> >> endobj",
    b"1 0 obj << /Type /ObjStm /Filter /FlateDecode >> stream\n"
    + zlib.compress(b"<< /S /JavaScript /JS (app.alert(1)) >>") + b"\nendstream endobj",
])
def test_a_pdf_that_runs_scripts_or_carries_files(body):
    assert "PDF 含有脚本" in refused(handmade_pdf(body), "合同.pdf")


def test_a_pdf_with_a_harmless_compressed_stream_passes():
    body = (b"1 0 obj << /Length 20 /Filter /FlateDecode >> stream\n"
            + zlib.compress(b"BT /F1 12 Tf (JSON is fine) Tj ET") + b"\nendstream endobj")
    assert inspect_upload(handmade_pdf(body), "a.pdf").content_type == "application/pdf"


def test_a_decompression_bomb_png():
    bomb = png_header_only(50_000, 50_000)  # 2.5 G pixels in about a hundred bytes
    assert len(bomb) < 200
    assert "图片像素过多" in refused(bomb, "bomb.png")
    assert "图片像素过多" in refused(png_header_only(7000, 6000), "big.png")  # 42 M pixels


def test_pillows_bomb_warning_is_a_refusal(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    assert "图片像素过多" in refused(png(size=(150, 100)), "warned.png")   # over the limit: a warning
    assert "图片像素过多" in refused(png(size=(300, 300)), "error.png")    # over twice: an error


@pytest.mark.parametrize("data", [
    pytest.param(jpeg()[:2000], id="truncated-jpeg"),
    pytest.param(png()[:60] + b"\x00" * 50 + png()[110:], id="png-with-bad-crc"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, id="png-signature-only"),
    pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 100, id="jpeg-signature-only"),
    pytest.param(b"RIFF\x10\x00\x00\x00WEBPVP8 garbage", id="webp-signature-only"),
    pytest.param(png_header_only(0, 10), id="png-zero-width"),
])
def test_broken_images(data):
    message = refused(data, "x.jpg")
    assert "图片已损坏或无法识别" in message or "图片像素过多" in message


# --- garbage EXIF: handled, never raising -------------------------------------------------------


def test_exif_with_garbage_values_gives_none():
    exif = Image.Exif()
    exif[0x0112] = 99  # no such orientation
    exif.get_ifd(0x8769)[0x9003] = "garbage!!"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "Q", "E"
    gps[2] = (IFDRational(1, 0), IFDRational(2, 1), IFDRational(3, 1))  # zero denominator
    gps[4] = (IFDRational(200, 1), IFDRational(0, 1), IFDRational(0, 1))  # past 180°
    info = inspect_upload(jpeg(exif=exif), "x.jpg")
    assert info.taken_at is None and info.gps is None
    assert (info.width, info.height) == (1200, 900) and info.thumbnail


def test_an_exif_block_of_random_bytes_gives_none():
    data = jpeg()
    segment = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + bytes(range(256)) * 3
    broken = data[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + data[2:]
    info = inspect_upload(broken, "x.jpg")
    assert info.content_type == "image/jpeg"
    assert info.taken_at is None and info.gps is None and info.thumbnail


@pytest.mark.parametrize("lat, lon", [
    ((IFDRational(95, 1), IFDRational(0, 1), IFDRational(0, 1)), None),  # past the pole
    ((IFDRational(36, 1), IFDRational(75, 1), IFDRational(0, 1)), None),  # 75 minutes
    ((IFDRational(0, 1), IFDRational(0, 1), IFDRational(0, 1)), "zero"),  # 0,0: an empty fix
])
def test_impossible_coordinates_give_none(lat, lon):
    exif = photo_exif()
    exif.get_ifd(0x8825)[2] = lat
    if lon == "zero":
        exif.get_ifd(0x8825)[4] = lat
    assert inspect_upload(jpeg(exif=exif), "x.jpg").gps is None


@pytest.mark.parametrize("value, expected", [
    ("2026:03:14 09:26:53", dt.datetime(2026, 3, 14, 9, 26, 53)),
    (b"2026:03:14 09:26:53\x00", dt.datetime(2026, 3, 14, 9, 26, 53)),
    ("2026-03-14 09:26:53", dt.datetime(2026, 3, 14, 9, 26, 53)),
    ("0000:00:00 00:00:00", None), ("2026:02:30 10:00:00", None), ("1970:01:01 00:00:00", None),
    ("2999:01:01 00:00:00", None), ("    :  :     :  :  ", None), (12345, None), (None, None),
])
def test_exif_dates(value, expected):
    assert parse_exif_datetime(value) == expected


# --- names and storing --------------------------------------------------------------------------


@pytest.mark.parametrize("raw, clean", [
    ("../../etc/passwd", "passwd"),
    ("C:\\fakepath\\施工许可证.pdf", "施工许可证.pdf"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # a right-to-left override hid ".exe"
    ("a\r\nSet-Cookie: x=1.pdf", "aSet-Cookie: x=1.pdf"),
    ("", "file"), ("...", "file"), (None, "file"),
    ("长" * 300 + ".pdf", "长" * 196 + ".pdf"),
])
def test_file_names(raw, clean):
    assert clean_filename(raw) == clean


def test_nothing_is_stored_for_a_refused_file(tmp_path):
    storage = LocalStorage(tmp_path / "attachments")
    hostile = [b"", b"<html><script>alert(1)</script>", png_header_only(50_000, 50_000),
               _with_zip(jpeg()), handmade_pdf(b"/JavaScript"), jpeg()[:2000], pdf() * 3]
    for data in hostile:
        with pytest.raises(EvidenceRefused):
            store_upload(data, "x.jpg", storage=storage, max_bytes=len(pdf()) * 2)
    assert list(storage.keys()) == []
    assert not (tmp_path / "attachments").exists() or not any((tmp_path / "attachments").iterdir())
    info = store_upload(jpeg(exif=photo_exif()), "现场.jpg", storage=storage, max_bytes=10**7)
    assert list(storage.keys()) == [info.sha256]
    assert storage.get(info.sha256) == jpeg(exif=photo_exif())


def test_store_upload_uses_the_apps_storage_and_limit(tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite3'}", CRM_MAX_ATTACHMENT_BYTES=2048)
    with app.app_context():
        with pytest.raises(EvidenceRefused) as caught:
            store_upload(pdf() + b"\n" * 3000, "big.pdf")
        assert "文件过大" in str(caught.value.message)
        info = store_upload(handmade_pdf(b"1 0 obj << >> endobj"), "ok.pdf")
    assert (tmp_path / "instance" / "attachments" / info.sha256[:2] / info.sha256).is_file()
