"""The import preview as the walkthrough found it (issue 19): a bad stage shown as what the
file says and flagged with the allowed values, the officers' names shown and checked, one unit
for a whole file without a unit column, one style of colon."""

import io
import re

import sqlalchemy as sa

from crm.extensions import db
from crm.leads.models import Lead
from tests.imports.test_import import lead_count


def _csv(tmp_path, lines, name="台账.csv"):
    path = tmp_path / name
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    return path


def _post(client, path, **form):
    return client.post("/imports/leads", data={"file": (io.BytesIO(path.read_bytes()), path.name),
                                               **form}, content_type="multipart/form-data")


def _row(page, number):
    return re.search(rf'<tr class="[^"]*" id="row-{number}">.*?</tr>', page, re.S).group(0)


def test_a_bad_stage_is_shown_as_written_and_flagged_with_the_allowed_values(
        client, auth, world, tmp_path):
    path = _csv(tmp_path, ["项目名称,投资方,计划投资(万元),所属镇街,负责人,阶段",
                           "甲项目,甲公司,15000,孟庄镇,a-1,谈判中"])
    auth.login("admin")
    page = _post(client, path).get_data(as_text=True)
    row = _row(page, 2)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert "谈判中" in cells[5] and "接触" not in cells[5]
    assert "未知的阶段“谈判中”（应为接触、洽谈、签约、开工、投产或终止）" in row


def test_the_officers_names_are_shown_and_an_unknown_one_is_flagged(
        client, auth, world, tmp_path):
    path = _csv(tmp_path, ["项目名称,投资方,计划投资(万元),所属镇街,负责人",
                           "甲项目,甲公司,15000,孟庄镇,a-1",
                           "乙项目,乙公司,15000,孟庄镇,张三丰",
                           "丙项目,丙公司,15000,,李四"])
    auth.login("admin")
    page = _post(client, path).get_data(as_text=True)
    assert "a-1" in re.findall(r"<td>(.*?)</td>", _row(page, 2), re.S)[4]
    second = _row(page, 3)
    assert "张三丰" in re.findall(r"<td>(.*?)</td>", second, re.S)[4]
    assert "“张三丰”不是孟庄镇的在岗人员" in second
    third = _row(page, 4)  # no unit: the name is still shown and checked
    assert "李四" in re.findall(r"<td>(.*?)</td>", third, re.S)[4]
    assert "“李四”不是任何单位的在岗人员" in third


def test_a_file_without_a_unit_column_may_be_given_one_unit(client, auth, world, tmp_path):
    path = _csv(tmp_path, ["项目名称,投资方,计划投资(万元),负责人,阶段",
                           "无单位项目甲,无单位公司甲,1.5亿,b-1,洽谈",
                           "无单位项目乙,无单位公司乙,15000万,,签约"])
    auth.login("admin")
    upload = client.get("/imports/leads").get_data(as_text=True)
    assert "整个文件属于" in upload and f'<option value="{world.b.id}">税郭镇</option>' in upload
    page = _post(client, path).get_data(as_text=True)  # no unit chosen: every row explains
    assert page.count("请填写所属镇街，或在上传时选择整个文件所属的单位") == 4  # list + table
    page = _post(client, path, township_id=str(world.b.id)).get_data(as_text=True)
    assert "确认导入" in page and "未填写所属镇街的行归属：税郭镇" in page
    token = page.split('name="token" value="')[1].split('"')[0]
    before = lead_count()
    assert client.post("/imports/leads/confirm", data={"token": token}).status_code == 302
    assert lead_count() == before + 2
    lead = db.session.scalar(sa.select(Lead).where(Lead.name == "无单位项目甲"))
    assert (lead.township_id, lead.primary_officer_id) == (world.b.id, world.off_b1.id)


def test_a_heads_file_is_his_units_without_choosing(client, auth, world, tmp_path):
    path = _csv(tmp_path, ["项目名称,投资方,计划投资(万元)", "镇长项目,镇长公司,8000"])
    auth.login("a-head")
    assert "整个文件属于" not in client.get("/imports/leads").get_data(as_text=True)
    page = _post(client, path, township_id=str(world.b.id)).get_data(as_text=True)
    assert "确认导入" in page and "孟庄镇" in _row(page, 2)


def test_messages_use_full_width_colons(client, auth, world, tmp_path):
    path = _csv(tmp_path, ["项目名称,投资方,计划投资(万元),所属镇街,阶段",
                           "甲项目,甲公司,很多,孟庄镇,谈判中"])
    auth.login("admin")
    page = _post(client, path).get_data(as_text=True)
    errors = re.search(r'<div class="alert alert-error".*?</div>', page, re.S).group(0)
    text = re.sub(r"<[^>]+>", "", errors)
    assert "第2行：阶段：未知的阶段" in text
    assert re.search(r"[\u4e00-\u9fff）]: ", re.sub(r"<[^>]+>", "", page)) is None
