"""The index an import checks its names with finds exactly the companies the one-name look-up
finds: numbered names only among names of the same numbers, the others by length. The 撞单
queue a page at a time."""

from crm.clock import utcnow
from crm.companies.models import Company
from crm.companies.names import normalise
from crm.companies.services import CompanyIndex, matching_company_ids
from crm.extensions import db
from tests.conftest import seen_on_pages

NAMES = ["众联测试企业1有限公司", "众联测试企业1股份有限公司", "众联测试企业10有限公司",
         "众联测试企业2有限公司", "新锐材料有限公司", "新锐材料科技有限公司", "（山东）新锐材料集团",
         "烟台中宠食品股份有限公司", "中宠食品有限公司", "鑫润泽专用车有限公司",
         "第3建筑工程有限公司", "第三建筑工程有限公司"]
PROBES = NAMES + ["众联测试企业1集团", "众联测试企业3有限公司", "新锐材料", "润泽专用车",
                  "完全无关的名字", "第3建筑工程公司"]


def test_the_index_matches_what_the_look_up_matches(app):
    for name in NAMES:
        db.session.add(Company(name=name, name_key=normalise(name), origin="",
                               created_at=utcnow()))
    db.session.flush()
    index = CompanyIndex()
    found_any = 0
    for probe in PROBES:
        key = normalise(probe)
        expected = matching_company_ids(key, None)
        assert matching_company_ids(key, None, index) == expected, probe
        found_any += bool(expected)
    assert found_any >= len(NAMES)  # every stored name finds at least itself
    one = db.session.query(Company.id).filter_by(name="众联测试企业1有限公司").scalar()
    ten = db.session.query(Company.id).filter_by(name="众联测试企业10有限公司").scalar()
    assert ten not in index.matching(normalise("众联测试企业1有限公司"), 0.5)
    assert one in index.matching(normalise("众联测试企业1有限公司"), 0.9)
    # a company added later is found too
    db.session.add(late := Company(name="众联测试企业3有限公司", name_key=normalise("众联测试企业3"),
                                   origin="", created_at=utcnow()))
    db.session.flush()
    index.add(late.id, late.name_key)
    assert late.id in matching_company_ids(normalise("众联测试企业3有限公司"), None, index)


def test_the_dispute_queue_is_paged_oldest_first(app, client, auth, world, monkeypatch):
    from crm.companies import views
    from tests import factories

    monkeypatch.setattr(views, "PER_PAGE", 2)
    for n in range(5):  # the same investor in the other unit: a dispute each
        factories.lead(world.off_a1, world.a, name=f"甲{n}", company=f"争议{n}科技有限公司")
        factories.lead(world.off_b1, world.b, name=f"乙{n}", company=f"争议{n}科技有限公司")
    db.session.commit()
    auth.login("admin")
    assert seen_on_pages(client, "/disputes/", 3, [f"乙{n}" for n in range(5)],
                         "共 5 件") == [[0, 1], [2, 3], [4]]
    assert client.get("/disputes/?page=7").headers["Location"].endswith("page=3")
