"""Company names: normalisation and similarity on a table of real-looking pairs."""

import pytest

from crm.companies.names import normalise, similar, similarity
from crm.config import DEFAULTS

THRESHOLD = DEFAULTS["CRM_DUPLICATE_SIMILARITY"]

#: (a, b, same investor?)
PAIRS = [
    # the same company written differently
    ("烟台中宠食品股份有限公司", "烟台中宠食品股份有限公司", True),
    ("烟台中宠食品股份有限公司", "烟台中宠食品有限公司", True),
    ("烟台中宠食品股份有限公司", "中宠食品", True),
    ("烟台中宠食品股份有限公司", "（山东）烟台中宠食品股份有限公司", True),
    ("烟台中宠食品股份有限公司", "山东省烟台市中宠食品股份有限公司", True),
    ("烟台中宠食品股份有限公司", "烟台 中宠 食品 股份有限公司", True),
    ("烟台中宠食品股份有限公司", "烟台中宠食品股份有限公司　", True),  # full-width space
    ("天津大学", "天津大学", True),
    ("鑫润泽专用车有限公司", "鑫润泽专用车制造有限公司", False),  # 鑫润泽专用车 vs …制造: 6 of 8
    ("枣庄鑫润泽专用车制造有限公司", "鑫润泽专用汽车制造有限公司", True),
    ("山东天之娇纺织有限公司", "天之娇纺织有限责任公司", True),
    ("沃辉新材料科技有限公司", "沃辉新材料科技股份有限公司", True),
    ("（山东）沃辉新材料科技有限公司", "沃辉新材料科技有限公司", True),  # full-width brackets
    ("(山东)沃辉新材料科技有限公司", "【山东】沃辉新材料科技有限公司", True),
    ("华为技术有限公司", "华为技术（深圳）有限公司", False),  # 华为技术深圳: 4 of 6
    ("三维汉界智能机器人有限公司", "三维汉界智能机器人", True),
    ("三维汉界智能机器人有限公司", "三维汉界机器人有限公司", False),  # 0.875
    ("济南超算中心有限公司", "济南超算中心", True),
    ("中建材石英玻璃产业化有限公司", "中建材石英玻璃产业有限公司", True),  # 9 of 10 chars
    ("ＡＢＣ科技有限公司", "abc科技有限公司", True),  # full-width letters (NFKC)
    ("泉为科技（枣庄）有限公司", "泉为科技枣庄有限公司", True),
    ("鲁南超算中心集团", "鲁南超算中心", True),
    ("鲁南超算中心集团有限公司", "鲁南超算中心有限公司", True),
    ("金正铁矿有限公司", "金正铁矿", True),
    ("晟达菲尔高端健康营养乳制品有限公司", "晟达菲尔健康营养乳制品有限公司", True),  # 13 of 15
    # a branch is its head office's investor
    ("烟台中宠食品股份有限公司枣庄分公司", "烟台中宠食品股份有限公司", True),
    ("中国建材集团有限公司山东分公司", "中国建材集团有限公司", True),
    ("鑫润泽专用车枣庄分公司", "鑫润泽专用车有限公司", True),
    # different companies with similar names must not match
    ("山东华鲁恒升化工股份有限公司", "山东华鲁恒昌化工股份有限公司", False),
    ("华鲁恒升", "华鲁恒昌", False),
    ("天津大学", "北京大学", False),
    ("天津大学", "天津科技大学", False),
    ("烟台中宠食品股份有限公司", "烟台中诚食品股份有限公司", False),
    ("新远大矿用锂电设备有限公司", "新远大矿用设备有限公司", False),
    ("鲁之饮咖啡饮料有限公司", "鲁之源咖啡饮料有限公司", False),
    ("泉为科技有限公司", "泉源科技有限公司", False),
    ("金正铁矿有限公司", "金山铁矿有限公司", False),
    ("济创PFC气凝硅有限公司", "济创气凝胶有限公司", False),
    ("天之娇纺织有限公司", "天之骄纺织有限公司", False),  # 娇 vs 骄: another company
    ("中建材先进光子材料有限公司", "中建材石英玻璃有限公司", False),
    ("深圳锂电池回收利用有限公司", "深圳电池回收有限公司", False),
    ("重金属捕捉剂科技有限公司", "重金属处理剂科技有限公司", False),
    ("医用电动转移车有限公司", "电动转移车有限公司", False),
    ("北京华为", "上海华为", False),  # cores of 2: the region stays
    ("导入测试企业1有限公司", "导入测试企业10有限公司", False),  # another number: 0.93, yet another
    ("枣庄第3建筑工程有限公司", "枣庄第5建筑工程有限公司", False),
]


def test_the_table_is_large_enough():
    assert len(PAIRS) >= 40


@pytest.mark.parametrize(("a", "b", "same"), PAIRS)
def test_pair(a, b, same):
    score = similarity(normalise(a), normalise(b))
    assert similar(a, b, THRESHOLD) is same, (normalise(a), normalise(b), score)
    assert similar(b, a, THRESHOLD) is same  # symmetric


@pytest.mark.parametrize(("name", "key"), [
    ("（山东）烟台中宠食品股份有限公司", "中宠食品"),
    ("山东省烟台市中宠食品有限公司", "中宠食品"),
    ("天津大学", "天津大学"),  # 大学 alone names nothing: the region stays
    ("华鲁恒升化工集团股份有限公司", "华鲁恒升化工"),
    ("ＡＢＣ 科技 有限公司", "abc科技"),
    ("烟台中宠食品股份有限公司枣庄分公司", "中宠食品"),
    ("公司", "公司"),  # nothing but an ending: kept, never empty
])
def test_normalise(name, key):
    assert normalise(name) == key


def test_one_character_in_four_is_far_below_the_threshold():
    assert similarity("华鲁恒升", "华鲁恒昌") == 0.75
