"""A published issue's Word file as LibreOffice renders it: Chinese text, not boxes (slow)."""

import shutil
import subprocess

import pytest

from crm.bulletin import issues
from crm.bulletin.issue_files import issue_docx
from crm.clock import today
from crm.extensions import db
from tests.supervision.conftest import red_lead

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_the_bulletin_docx_renders_to_pdf_with_chinese_text(app, sw, tmp_path):
    if shutil.which("soffice") is None or shutil.which("pdftotext") is None:
        pytest.skip("LibreOffice (soffice) or poppler-utils (pdftotext) is not installed")
    red_lead(sw, name="鲁南超算中心")
    issue = issues.publish(sw.admin, today())
    db.session.commit()
    source = tmp_path / "issue.docx"
    source.write_bytes(issue_docx(issue))
    profile = tmp_path / "lo-profile"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "issue.pdf"
    assert pdf.exists()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    for words in ("市中区招商引资项目红黄蓝通报", "单位排名", "鲁南超算中心", "孟庄镇", "红色项目"):
        assert words in text, words
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
                        str(tmp_path / "page")], check=True, timeout=60)
        assert list(tmp_path.glob("page*.png"))


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_an_order_and_a_monthly_report_render_to_pdf_with_chinese_text(app, sw, tmp_path):
    """The other Word documents: a supervision order and the month's report."""
    if shutil.which("soffice") is None or shutil.which("pdftotext") is None:
        pytest.skip("LibreOffice (soffice) or poppler-utils (pdftotext) is not installed")
    from crm.reports.monthly import monthly_report, report_docx
    from crm.supervision.document import order_docx
    from crm.supervision.services import issue_order

    lead = red_lead(sw, name="鲁南超算中心")
    order = issue_order(sw.admin, lead, "red", "开工滞后三个月")
    db.session.commit()
    day = today()
    documents = {"order": (order_docx(order), ("督办", "鲁南超算中心", "开工滞后三个月")),
                 "monthly": (report_docx(monthly_report(sw.admin, day.year, day.month)),
                             ("月报", "孟庄镇"))}
    for name, (data, words) in documents.items():
        source = tmp_path / f"{name}.docx"
        source.write_bytes(data)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
                        "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                        str(source)], check=True, capture_output=True, timeout=180)
        text = subprocess.run(["pdftotext", "-layout", str(tmp_path / f"{name}.pdf"), "-"],
                              check=True, capture_output=True, text=True, timeout=60).stdout
        for word in words:
            assert word in text, (name, word)
