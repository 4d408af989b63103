"""The demo district (its units as in the seed newsletter): units, users, leads, visits, targets.

Built from the facts of the seed newsletter; every amount, date and person not in it is invented
and each lead says so in its notes (（演示数据）). Dates are relative to ``today``: history is
squeezed into the current year (a few older leads start the year before) so a new user sees a
live pipeline; planned dates and follow-ups are relative to today, so some projects are late.
``seed_demo`` only adds and flushes; the caller commits.
"""

import datetime as dt
import random
import re
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa

from crm.auth.models import DISTRICT_ADMIN, OFFICER, REVIEWER, TOWNSHIP_HEAD, VIEWER, User
from crm.auth.services import create_user
from crm.extensions import db
from crm.industries.services import seed_industries
from crm.leads.models import Contact
from crm.leads.services import add_blocker, add_funds, create_lead, move_stage, resolve_blocker
from crm.leads.validation import credit_code_valid
from crm.permits.services import add_permit
from crm.targets.models import Target
from crm.townships.models import Township
from crm.visits.services import log_visit

DEMO_PASSWORD = "zhaoshang2026"  # noqa: S105  (the published demo password)
DEMO_NOTE = "（演示数据）"
#: Days of history authored below for the current year; squeezed when the year is younger.
HORIZON = 300

UNITS = (
    ("孟庄镇", "town"), ("税郭镇", "town"), ("西王庄镇", "town"), ("齐村镇", "town"),
    ("永安镇", "town"), ("中心街街道", "subdistrict"), ("垎塔埠街道", "subdistrict"),
    ("矿区街道", "subdistrict"), ("文化路街道", "subdistrict"), ("龙山路街道", "subdistrict"),
    ("光明路街道", "subdistrict"), ("枣庄经济开发区", "zone"), ("区发改局", "bureau"),
    ("区住建局", "bureau"), ("区行政审批服务局", "bureau"), ("区商务和投资促进局", "bureau"),
)

# Per unit: its usernames' prefix, its head and its officers (``<prefix>-1``, ``-2``), by name.
TEAMS = (
    ("孟庄镇", "mengzhuang", "宋晓娜", ("王振华", "李婷婷")),
    ("税郭镇", "shuiguo", "刘昊", ("张立新", "陈晓燕")),
    ("西王庄镇", "xiwangzhuang", "刘杰", ("孙浩", "周雪梅")),
    ("枣庄经济开发区", "kaifaqu", "陈刚", ("吴楠",)),
    ("区发改局", "fagaiju", "郑国强", ("马晓丽",)),
)

# (username, role, unit, display name); per unit: head first, then officers -1, -2.
USERS = (
    ("admin", DISTRICT_ADMIN, None, "区商务和投资促进局管理员"),
    ("viewer", VIEWER, None, "区领导"),  # the username is not a role
    ("reviewer", REVIEWER, None, "区投促局审核员"),  # the username is not a role
    *((username, role, unit, name)
      for unit, prefix, head, officers in TEAMS
      for username, role, name in ((f"{prefix}-head", TOWNSHIP_HEAD, head),
                                   *((f"{prefix}-{n}", OFFICER, officer)
                                     for n, officer in enumerate(officers, start=1)))),
)

SPONSORS = {
    "孟庄镇": "镇长 宋晓娜", "税郭镇": "镇长 刘昊", "西王庄镇": "党委书记 刘杰",
    "枣庄经济开发区": "管委会主任 陈刚", "区发改局": "局长 郑国强",
}
KEY_SPONSORS = ("区委副书记 孔令军", "副区长 韩春雷", "区委常委 高志明", "副区长 杜文静")

STAGE_CODES = {"n": "negotiation", "s": "signed", "t": "started", "p": "producing", "x": "lost"}

# One lead a row: (unit, officer: 0 head / 1 / 2 / None, project, investor, origin, industry,
#  chain, source, investment 万元, created (days ago; negative: days before 1 January),
#  moves "n200 s150 t90 p30 x40:reason" (days ago, same rule), planned (sign, start, production)
#  in days from today, next follow-up in days from today, visits, last visit (days ago), extras).
KEY = {"key": True}


class DemoLead(NamedTuple):
    """One demo lead (the columns of ``_LEAD_ROWS``, described above)."""

    unit: str
    officer: int | None  # 0 the unit's head, 1 / 2 its officers, None nobody
    project: str
    investor: str
    origin: str
    industry: str
    chain: str
    source: str
    investment_wan: int
    created: int
    moves: str
    planned: tuple | None
    follow_up: int | None
    visits: int
    last_visit: int
    extras: dict


_LEAD_ROWS = (
    # 孟庄镇: exactly 15 active leads; the 7 key projects total 150000 万元 (15亿元).
    ("孟庄镇", 1, "三维汉界智能机器人生产基地", "三维汉界（山东）智能机器人有限公司", "青岛",
     "智能机器人", "工业机器人", "referral", 45000, -40, "n250 s200 t120", (-200, -125, 150),
     3, 8, 4, {**KEY, "stats": 60}),
    ("孟庄镇", 2, "高端宠物冻干食品生产线", "山东佩宠生物科技有限公司", "临沂", "宠物食品",
     "宠物主粮", "industry_chain", 18000, 280, "n240 s190 t140", (-190, -150, -20),
     -6, 6, 25, {**KEY, "stats": 100}),
    ("孟庄镇", 1, "精密轴承及传动部件产业园", "枣庄恒锐精密机械有限公司", "宁波", "精密制造",
     "轴承", "referral", 22000, 260, "n210 s150", (-150, -45, 300), 2, 5, 12, KEY),
    ("孟庄镇", 2, "功能性健康食品产业园", "山东禾康健康食品有限公司", "济南", "健康食品",
     "功能食品", "enterprise", 25000, -60, "n-20 s230 t170", (-235, -175, 60),
     0, 7, 8, {**KEY, "stats": 110}),
    ("孟庄镇", 1, "工业机器人精密减速器项目", "江苏精传智能装备有限公司", "常州", "智能机器人",
     "核心零部件", "industry_chain", 15000, 230, "n180 s100", (-100, 40, 400), 5, 5, 6, KEY),
    ("孟庄镇", 2, "数控精密零部件加工项目", "枣庄精工数控科技有限公司", "枣庄", "精密制造",
     "数控加工", "enterprise", 12000, 270, "n230 s200 t150", (-200, -150, 30),
     10, 4, 30, {**KEY, "stats": 90}),
    ("孟庄镇", 1, "植物蛋白饮品生产线", "山东豆源食品科技有限公司", "潍坊", "健康食品", "饮品",
     "referral", 13000, 200, "n150 s70", (-75, -10, 240), 1, 5, 15, KEY),
    ("孟庄镇", 0, "宠物食品生产基地", "烟台中宠食品股份有限公司", "烟台", "宠物食品", "宠物主粮",
     "industry_chain", 120000, 220, "n120", (45, 120, 480), 2, 8, 3,
     {"note": "力争实现10亿元以上项目招引重大突破"}),
    ("孟庄镇", 2, "智能制造科技成果转化中试基地", "天津大学", "天津", "智能机器人", "产学研合作",
     "other", 5000, 190, "n90", (-40, 60, 240), -3, 6, 20, {"note": "校地合作，科技成果转化项目"}),
    ("孟庄镇", 1, "智能宠物用品研发制造", "深圳萌宠智能科技有限公司", "深圳", "宠物食品",
     "宠物用品", "referral", 3000, 120, "", None, 6, 3, 40, {}),
    ("孟庄镇", 2, "食品机械精密部件项目", "诸城鼎盛食品机械有限公司", "诸城", "精密制造",
     "食品机械", "industry_chain", 6000, 150, "", None, -12, 3, 75, {}),
    ("孟庄镇", 1, "预制菜中央厨房项目", "山东鲁味鲜食品有限公司", "济宁", "健康食品", "预制菜",
     "fair", 9000, 170, "n60", (-8, 60, 200), 4, 5, 9, {}),
    ("孟庄镇", 2, "协作机器人关节模组项目", "苏州协智机器人科技有限公司", "苏州", "智能机器人",
     "核心零部件", "agent", 20000, 90, "", None, 0, 4, 10, {}),
    ("孟庄镇", 1, "益生菌功能食品项目", "上海益菌生物科技有限公司", "上海", "健康食品",
     "功能食品", "resident", 7000, 60, "", None, 7, 3, 5, {}),
    ("孟庄镇", 2, "宠物营养保健品项目", "杭州宠健生物科技有限公司", "杭州", "宠物食品",
     "宠物保健", "referral", 4500, 140, "n50", (20, 90, 200), 3, 4, 7, {}),
    # 税郭镇
    ("税郭镇", 1, "专用车及不锈钢制品出口制造项目", "江苏通达专用车辆有限公司", "扬州",
     "智能装备制造", "专用车", "referral", 30000, 200, "n110", (-35, 90, 400), -4, 6, 18, {}),
    ("税郭镇", 0, "金正铁矿采选及铁精粉加工项目", "枣庄金正矿业有限公司", "枣庄", "铁精粉加工",
     "采选", "enterprise", 60000, -90, "n-30 s180", (-180, -20, 300), 1, 7, 5,
     {**KEY, "note": "加快推动开工建设"}),
    ("税郭镇", 2, "鑫润泽专用车制造扩产项目", "枣庄鑫润泽专用车制造有限公司", "枣庄",
     "智能装备制造", "专用车", "enterprise", 15000, 240, "s210 t160", (-210, -160, 20),
     8, 5, 14, {**KEY, "stats": 120, "note": "企业接二连三上项目"}),
    ("税郭镇", 1, "天之娇纺织智能化改造项目", "山东天之娇纺织有限公司", "枣庄", "纺织服装",
     "纺纱织造", "enterprise", 8000, 230, "s200 t150", (-200, -150, -40), -2, 5, 35,
     {"stats": 100}),
    ("税郭镇", 2, "沃辉新材料扩能项目", "枣庄沃辉新材料有限公司", "枣庄", "新材料", "功能材料",
     "enterprise", 12000, 250, "s220 t130", (-220, -130, 15), 0, 6, 2,
     {"note": "指导企业升规纳统"}),
    ("税郭镇", 1, "铁精粉深加工球团项目", "山东鑫泰冶金材料有限公司", "临沂", "铁精粉加工",
     "球团", "capital", 150000, 210, "n150 s45", (-50, 60, 420), 5, 7, 6, KEY),
    ("税郭镇", 2, "高支精梳纱线项目", "绍兴恒纺纺织有限公司", "绍兴", "纺织服装", "纺纱",
     "industry_chain", 20000, 100, "", None, 3, 3, 12, {}),
    ("税郭镇", 1, "铁精粉仓储物流贸易项目", "日照港通物流有限公司", "日照", "铁精粉加工",
     "贸易物流", "referral", 12000, 180, "n100", (-60, 30, 200), -15, 4, 70, {}),
    ("税郭镇", 2, "功能性面料印染项目", "浙江绿纺印染有限公司", "绍兴", "纺织服装", "印染",
     "fair", 25000, 230, "n160 x90:policy", None, None, 4, 95,
     {"note": "印染项目环评要求不符合园区规划，终止"}),
    ("税郭镇", 1, "智能焊接机器人工作站项目", "唐山焊达智能装备有限公司", "唐山", "智能装备制造",
     "焊接装备", "agent", 10000, 80, "n30", (30, 120, 300), 2, 3, 4, {}),
    # 西王庄镇
    ("西王庄镇", 1, "超算中心项目", "山东智算云计算科技有限公司", "济南", "数字经济", "算力",
     "capital", 50000, 220, "n170 s100", (-100, -50, 500), 2, 7, 3, KEY),
    ("西王庄镇", 2, "济创PFC气凝硅项目", "济创（山东）新材料科技有限公司", "济南", "新材料",
     "气凝胶", "industry_chain", 30000, 200, "n140 s75", (-75, -15, 360), -1, 8, 6, KEY),
    ("西王庄镇", 1, "中建材石英玻璃产业化项目", "中国建筑材料科学研究总院有限公司", "北京",
     "新材料", "石英玻璃", "enterprise", 80000, 180, "n110", (30, 150, 500), 4, 6, 10, {}),
    ("西王庄镇", 2, "重金属捕捉剂项目", "山东清源环保科技有限公司", "淄博", "新材料",
     "环保材料", "referral", 10000, 150, "n80", (-20, 60, 240), 0, 5, 8, {}),
    ("西王庄镇", 1, "医用电动转移车项目", "苏州康移医疗器械有限公司", "苏州", "生物医药",
     "医疗器械", "resident", 6000, 110, "", None, 5, 4, 12, {}),
    ("西王庄镇", 2, "深圳锂电池回收利用项目", "深圳市绿循新能源科技有限公司", "深圳",
     "新能源/光伏", "锂电回收", "resident", 35000, 130, "", None, -8, 4, 22, {}),
    ("西王庄镇", 1, "分布式光伏支架制造项目", "河北晶跃新能源科技有限公司", "邢台",
     "新能源/光伏", "光伏支架", "fair", 8000, 240, "n190 x120:terms_failed", None, None, 3,
     125, {"note": "土地价格和税收贡献条件未谈拢"}),
    ("西王庄镇", 2, "高纯石英砂提纯项目", "连云港晶纯硅材料有限公司", "连云港", "新材料",
     "石英材料", "industry_chain", 15000, 70, "", None, 12, 3, 65, {}),
    ("西王庄镇", 1, "碳纤维复合材料制品项目", "江苏碳创新材料有限公司", "常州", "新材料",
     "复合材料", "referral", 20000, 210, "n130", (-55, 30, 300), 3, 5, 16, {}),
    # 枣庄经济开发区 and 区发改局: the district's key projects
    ("枣庄经济开发区", 1, "新远大矿用锂电设备生产基地", "山东新远大能源科技有限公司", "枣庄",
     "新能源/光伏", "矿用锂电", "enterprise", 120000, -150, "n-120 s-80 t150",
     (-400, -160, 60), 3, 8, 2, {**KEY, "stats": 120}),
    ("枣庄经济开发区", 1, "中建材先进光子材料产业园", "中建材光子科技有限公司", "北京", "新材料",
     "光子材料", "enterprise", 100000, -200, "n-180 s-150 t-60 p120", (-500, -360, -130),
     20, 6, 15, {**KEY, "stats": 110}),
    ("枣庄经济开发区", 1, "泉为科技异质结光伏项目", "泉为新能源科技（山东）有限公司", "杭州",
     "新能源/光伏", "异质结电池", "capital", 200000, -100, "n-60 s220 t160", (-240, -170, -45),
     -5, 7, 20, {**KEY, "stats": 130}),
    ("枣庄经济开发区", 0, "新能源汽车零部件产业园", "常州驰远汽车部件有限公司", "常州",
     "智能装备/机器人", "汽车零部件", "fair", 50000, 120, "n40", (60, 150, 400), 1, 4, 9, {}),
    ("区发改局", 1, "鲁南超算中心", "枣庄鲁南数据科技有限公司", "枣庄", "数字经济", "算力",
     "capital", 150000, -120, "n-90 s-60 t200", (-420, -210, 120), 6, 6, 11,
     {**KEY, "stats": 150}),
    ("区发改局", 1, "晟达菲尔高端健康营养乳制品项目", "山东晟达菲尔乳业有限公司", "枣庄",
     "健康食品", "乳制品", "referral", 60000, -80, "s-30 t190", (-400, -200, -10), 0, 6, 7,
     {**KEY, "stats": 160}),
    ("区发改局", 0, "鲁之饮咖啡饮料项目", "山东鲁之饮食品有限公司", "枣庄", "健康食品", "饮料",
     "enterprise", 20000, -150, "s-120 t-40 p60", (-480, -380, -70), 25, 5, 30,
     {**KEY, "stats": 200}),
    # other units (no demo logins: the district bureau works them)
    ("齐村镇", None, "生物医药中间体项目", "山东瑞康药业科技有限公司", "济南", "生物医药",
     "原料药中间体", "referral", 30000, 150, "n80 s20", (-25, 90, 400), 4, 4, 6, {}),
    ("齐村镇", None, "文旅康养综合体项目", "青岛海悦康养产业集团有限公司", "青岛", "现代服务业",
     "康养", "agent", 20000, 100, "n40", (-35, 100, 460), -6, 3, 30, {}),
    ("永安镇", None, "新型绿色建材项目", "枣庄永固新型建材有限公司", "枣庄", "新材料", "绿色建材",
     "enterprise", 18000, 200, "n150 s100 t40", (-100, -45, 200), 7, 5, 12, {"stats": 20}),
    ("永安镇", None, "农产品冷链物流园项目", "临沂顺泰冷链物流有限公司", "临沂", "现代服务业",
     "冷链物流", "referral", 12000, 180, "n120 x50:investor_withdrew", None, None, 3, 60,
     {"note": "投资方资金链紧张，主动放弃"}),
    ("中心街街道", None, "商业综合体提升改造项目", "济南万象商业管理有限公司", "济南",
     "现代服务业", "商贸", "referral", 15000, 90, "", None, 2, 3, 14, {}),
    ("文化路街道", None, "数字文创产业园项目", "北京文数科技有限公司", "北京", "数字经济", "文创",
     "referral", 10000, 160, "n70", (15, 90, 240), 3, 4, 8, {}),
    ("光明路街道", None, "区域结算中心项目", "山东联储供应链管理有限公司", "济南", "现代服务业",
     "总部经济", "other", 8000, 50, "", None, 9, 3, 4, {}),
    ("龙山路街道", None, "软件外包交付中心项目", "大连云启软件有限公司", "大连", "数字经济",
     "软件信息", "resident", 5000, 120, "n60 s10", (-10, 50, 120), 5, 3, 10, {}),
    ("矿区街道", None, "矿山生态修复及文旅项目", "山东绿源生态环境有限公司", "泰安", "现代服务业",
     "文旅", "capital", 25000, 140, "n60", (-40, 60, 300), -20, 3, 45, {}),
    ("垎塔埠街道", None, "智慧物流分拨中心项目", "徐州通衢物流有限公司", "徐州", "现代服务业",
     "物流", "referral", 9000, 110, "", None, 1, 3, 20, {}),
)
LEADS = tuple(DemoLead(*row) for row in _LEAD_ROWS)

# (project, kind, description, owner, opened days ago, resolved days ago or None, resolution)
BLOCKERS = (
    ("济创PFC气凝硅项目", "land", "项目二期用地指标尚未落实，需调整土地利用规划",
     "镇自然资源所", 70, None, ""),
    ("济创PFC气凝硅项目", "power", "生产线需新建10千伏专线，供电接入方案待批复",
     "区供电中心", 60, None, ""),
    ("济创PFC气凝硅项目", "approval", "环评、能评手续正在办理，需区行政审批服务局提前介入",
     "区行政审批服务局", 50, None, ""),
    ("超算中心项目", "power", "数据中心双回路供电需扩容变电站", "区供电中心", 90, 30,
     "供电公司已完成扩容方案并纳入年度计划"),
    ("金正铁矿采选及铁精粉加工项目", "approval", "安全设施设计审查未完成", "区应急管理局",
     150, 40, "安全设施设计已通过专家审查"),
    ("泉为科技异质结光伏项目", "funding", "二期设备款存在缺口，需协调银行授信",
     "区地方金融服务中心", 80, None, ""),
)

# Targets of the current year: the seed's own for its three towns, plausible ones for the others.
TARGETS = {
    "西王庄镇": {"new_leads": 24, "signed_100m": 10, "started_100m": 8},
    "税郭镇": {"signed_100m": 16, "signed_1b": 4, "signed_5b": 1},
    "孟庄镇": {"signed_1b": 1},
    "枣庄经济开发区": {"signed_100m": 3, "started_100m": 3, "producing": 1,
                 "funds_arrived_wan": 150000, "visits": 30},
    "齐村镇": {"new_leads": 4, "signed_100m": 3, "started_100m": 2, "visits": 12},
    "永安镇": {"new_leads": 4, "signed_100m": 2, "started_100m": 1, "visits": 12},
    "中心街街道": {"new_leads": 3, "signed_100m": 1, "visits": 8},
    "垎塔埠街道": {"new_leads": 3, "signed_100m": 1, "visits": 8},
    "矿区街道": {"new_leads": 2, "signed_100m": 1, "visits": 6},
    "文化路街道": {"new_leads": 3, "signed_100m": 1, "visits": 8},
    "龙山路街道": {"new_leads": 2, "signed_investment_wan": 10000, "visits": 6},
    "光明路街道": {"new_leads": 2, "signed_100m": 1, "visits": 6},
}

# Key projects (extras "key") are 区重点 unless named here (the district's list in the seed).
KEY_LEVEL_OF = {
    "泉为科技异质结光伏项目": "province",
    "中建材先进光子材料产业园": "province",
    "新远大矿用锂电设备生产基地": "city",
    "鲁南超算中心": "city",
    "晟达菲尔高端健康营养乳制品项目": "city",
    "鲁之饮咖啡饮料项目": "city",
    "三维汉界智能机器人生产基地": "city",
}
# The district's rate and investment targets (区发改局: "一季度省市项目开工率超90%、上半年纳统率
# 超75%、纳统有效投资突破100亿"): (metric, target, due month-day or None). Targets are per unit:
# the two rates hold every unit with key projects to the district's rate; the 纳统有效投资 goal
# (1,000,000 万元 = 100亿元) is set on 区发改局, which keeps the district's key-project list.
DISTRICT_RATE_TARGETS = (("start_rate", "0.90", (3, 31)), ("stats_inclusion_rate", "0.75", (6, 30)))
DISTRICT_INVESTMENT_TARGET = ("区发改局", "stats_included_investment_wan", 1_000_000)
# Permit checklists (手续办理清单): (project, kind, responsible unit, due in days from today,
# done days ago or None, note). Some are overdue, so the colours and the overdue list show them.
PERMITS = (
    ("济创PFC气凝硅项目", "filing", "区发改局", -120, 125, ""),
    ("济创PFC气凝硅项目", "land", "区自然资源局", -45, None, "二期用地指标待调整规划"),
    ("济创PFC气凝硅项目", "environment", "区行政审批服务局", -12, None, "环评报告书技术审查中"),
    ("济创PFC气凝硅项目", "energy", "区发改局", 20, None, ""),
    ("超算中心项目", "planning", "区行政审批服务局", -5, None, "规划方案待专家论证"),
    ("超算中心项目", "construction", "区住建局", 40, None, ""),
    ("泉为科技异质结光伏项目", "construction", "区行政审批服务局", -180, 185, ""),
    ("泉为科技异质结光伏项目", "fire", "区住建局", -20, None, "二期消防设计审查意见待回复"),
    ("中建材石英玻璃产业化项目", "filing", "区发改局", 25, None, ""),
    ("鲁南超算中心", "energy", "区发改局", -200, 210, ""),
    ("鲁南超算中心", "safety", "区应急管理局", 30, None, ""),
    ("新远大矿用锂电设备生产基地", "environment", "区行政审批服务局", -35, None,
     "环评批复待市生态环境局市中分局出具"),
    ("精密轴承及传动部件产业园", "construction", "区行政审批服务局", -12, None, "施工图审查中"),
)

# Visit templates (kind, summary, next step): before signing, and after.
BEFORE = (
    ("call", "电话联系{p}，介绍{u}区位优势和产业政策，对方有意来枣考察",
     "发送园区推介材料，约定考察时间"),
    ("visit", "赴{o}上门拜访{c}，了解{n}的投资规模、产品方向和用地需求",
     "整理项目需求清单，报主要领导研判"),
    ("reception", "接待{c}一行来访，实地察看园区标准厂房和水电气配套",
     "根据企业反馈测算用地、能耗指标"),
    ("meeting", "召开{n}专题洽谈会，就投资强度、建设周期和扶持政策深入交流",
     "起草投资合作协议初稿"),
    ("inspection", "陪同{c}负责人考察同类项目和上下游配套企业",
     "形成考察报告，提交项目研判会"),
    ("online", "与{c}视频会商，逐条沟通协议条款修改意见",
     "请法律顾问审核协议文本"),
    ("call", "电话回访{p}，企业正在内部决策，关注土地价格和人才政策",
     "准备人才政策和用地价格说明"),
)
AFTER = (
    ("visit", "走访{n}现场，了解施工进度，协调解决施工用水用电问题",
     "对接供电公司，明确接电时间"),
    ("call", "电话联系{p}，企业反映规划许可、施工许可办理进度",
     "协调区行政审批服务局帮办代办"),
    ("meeting", "组织{n}推进调度会，梳理要素保障问题清单",
     "按清单逐项销号，每周调度"),
    ("inspection", "帮包领导带队察看{n}建设现场，督导工程进度",
     "倒排工期，挂图作战"),
    ("online", "与{c}线上对接设备采购和人员招聘计划",
     "协调人社部门组织专场招聘"),
    ("visit", "上门走访{c}，了解资金到位和设备安装情况，宣讲升规纳统政策",
     "指导企业准备纳统材料"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"
GIVEN = ("建国", "海涛", "志强", "丽娟", "晓东", "文博", "雪莲", "国栋", "春华", "立伟", "敏", "军")
TITLES = ("总经理", "董事长", "项目经理", "投资总监", "副总经理")
#: Investors named in the seed keep no invented credit code.
SEED_NAMED = ("中宠", "中国建筑材料", "中建材", "金正", "鑫润泽", "天之娇", "沃辉", "新远大",
              "晟达菲尔", "鲁之饮", "泉为", "三维汉界", "济创")
CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def seed_demo(today: dt.date) -> dict:
    """Load the demo district unless user ``admin`` exists; adds and flushes, never commits.

    The industry list (crm/industries/initial.py, as migration 0012 installs it) is added to a
    database that has none, so the demo's industry texts map to it by name or alias."""
    seed_industries()
    if db.session.scalar(sa.select(User.id).where(User.username == "admin")) is not None:
        return {"created": False, "password": DEMO_PASSWORD, "logins": _logins()}
    rng = random.Random(2026)
    jan1 = dt.date(today.year, 1, 1)
    squeeze = min(1.0, (today - jan1).days / HORIZON)

    def when(n: int) -> dt.date:
        """History: n days ago (squeezed into this year); negative n: |n| days before 1 Jan."""
        if n < 0:
            return jan1 + dt.timedelta(days=n)
        return today - dt.timedelta(days=round(n * squeeze))

    def ahead(n):
        return None if n is None else today + dt.timedelta(days=n)

    units = {}
    for name, kind in UNITS:
        unit = db.session.scalar(sa.select(Township).where(Township.name == name))
        if unit is None:
            unit = Township(name=name, kind=kind)
            db.session.add(unit)
        units[name] = unit
    db.session.flush()
    users = {}
    for username, role, unit_name, display in USERS:
        users[username] = db.session.scalar(
            sa.select(User).where(User.username == username)
        ) or create_user(
            username, role=role, email=f"{username}@demo.zhaoshang.local",
            password=DEMO_PASSWORD, township=units.get(unit_name), display_name=display,
        )
    admin = users["admin"]
    staff = {}
    for username, _role, unit_name, _display in USERS:
        if unit_name:
            staff.setdefault(unit_name, []).append(users[username])

    leads = {}
    for d in LEADS:
        officer = staff[d.unit][d.officer] if d.officer is not None else None
        helpers = [u.id for u in staff.get(d.unit, [])[1:]
                   if d.extras.get("key") and officer is not None and u is not officer]
        moves = [(STAGE_CODES[c], when(int(n)), reason or None)
                 for c, n, reason in re.findall(r"([nstpx])(-?\d+)(?::(\w+))?", d.moves)]
        created_on = when(d.created)
        contact = rng.choice(SURNAMES) + rng.choice(GIVEN)
        title = rng.choice(TITLES) if d.investor.endswith("公司") else "科技成果转化办公室主任"
        sign, start, production = d.planned or (None, None, None)
        output = d.investment_wan * rng.randint(10, 22) // 10
        if d.extras.get("key"):
            sponsor = rng.choice(KEY_SPONSORS)
        else:
            sponsor = SPONSORS.get(d.unit, "") if d.investment_wan >= 10000 else ""
        lead = create_lead(admin, {
            "name": d.project, "company": d.investor, "origin": d.origin, "industry": d.industry,
            "chain": d.chain, "source": d.source, "investment_wan": Decimal(d.investment_wan),
            "credit_code": _credit_code(rng) if d.investor.endswith("公司") and not any(
                s in d.investor for s in SEED_NAMED) else None,
            "land_mu": Decimal(max(5, d.investment_wan // rng.randint(150, 300))),
            "expected_output_wan": Decimal(output), "expected_tax_wan": Decimal(output * 6 // 100),
            "jobs": 20 + d.investment_wan // rng.randint(60, 150), "stage": "contact",
            "created_on": created_on,
            "township_id": units[d.unit].id,
            "primary_officer_id": officer.id if officer else None, "helper_ids": helpers,
            "sponsor": sponsor, "contact_name": contact,
            "contact_phone": f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}",
            "planned_sign_date": ahead(sign), "planned_start_date": ahead(start),
            "planned_production_date": ahead(production),
            "stats_included_on": when(d.extras["stats"]) if "stats" in d.extras else None,
            "notes": DEMO_NOTE + ("省市区重点项目。" if d.extras.get("key") else "")
            + d.extras.get("note", ""),
            "key_level": KEY_LEVEL_OF.get(d.project, "district") if d.extras.get("key")
            else "none",
        })
        # A second person at the investor (the first is the lead's own contact fields).
        lead.contacts.append(Contact(
            name=rng.choice(SURNAMES) + rng.choice(GIVEN), title=title,
            phone=f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}"))
        for stage, on, lost_reason in moves:
            move_stage(admin, lead, stage, on=on, lost_reason=lost_reason)
        _visits(rng, lead, officer or admin, created_on, when(d.last_visit), d.visits, moves, d.unit)
        lead.next_follow_up = max(ahead(d.follow_up), lead.last_visit_on) if (
            d.follow_up is not None) else None
        _funds(rng, admin, lead, d.investment_wan, moves, today)
        leads[d.project] = lead

    for name, kind, description, owner, opened, resolved, resolution in BLOCKERS:
        blocker = add_blocker(admin, leads[name], kind, description, owner, when(opened))
        if resolved is not None:
            resolve_blocker(admin, blocker, resolution, when(resolved))

    for project, kind, unit, due, done, note in PERMITS:
        add_permit(admin, leads[project], {
            "kind": kind, "responsible_unit": unit, "due_on": today + dt.timedelta(days=due),
            "done_on": None if done is None else today - dt.timedelta(days=done), "note": note})

    targets = {name: [(metric, value, None) for metric, value in metrics.items()]
               for name, metrics in TARGETS.items()}
    for name in dict.fromkeys(d.unit for d in LEADS if d.extras.get("key")):
        targets.setdefault(name, []).extend(
            (metric, value, dt.date(today.year, *month_day))
            for metric, value, month_day in DISTRICT_RATE_TARGETS)
    unit_name, metric, value = DISTRICT_INVESTMENT_TARGET
    targets.setdefault(unit_name, []).append((metric, value, None))
    for unit_name, metrics in targets.items():
        for metric, value, due_on in metrics:
            exists = db.session.scalar(sa.select(Target.id).where(
                Target.township_id == units[unit_name].id, Target.year == today.year,
                Target.metric == metric))
            if exists is None:
                db.session.add(Target(township_id=units[unit_name].id, year=today.year,
                                      metric=metric, value=Decimal(value), due_on=due_on))
    db.session.flush()
    from crm.claims.demo import build_queue

    reviewer = sa.select(User).where(User.username == "reviewer")  # the username is not a role
    build_queue(db.session.scalar(reviewer))
    _demo_channels(units)
    return {"created": True, "password": DEMO_PASSWORD, "logins": _logins()}


#: The demo's group robots: one per vendor, pointing at the discard port of this machine (nothing
#: listens there) and disabled, so that `make run` never sends; an admin sees what a configured
#: channel looks like and replaces the URL with a real robot's.
DEMO_CHANNELS = (
    ("全区招商工作群（演示）", "wecom", None,
     "http://127.0.0.1:9/cgi-bin/webhook/send?key=demo-wecom-0000-key0", "", ""),
    ("孟庄镇招商群（演示）", "dingtalk", "孟庄镇",
     "http://127.0.0.1:9/robot/send?access_token=demo-dingtalk-token-ab12",
     "SECdemo0000000000000000000000000000000000000000000000000000000cd34", "招商"),
)


def _demo_channels(units) -> None:
    """The demo channels (skipped by name when present); stored as an admin's would be."""
    from crm.channels import crypto, vendors
    from crm.channels.models import Channel

    for name, kind, unit_name, url, secret, keyword in DEMO_CHANNELS:
        if db.session.scalar(sa.select(Channel.id).where(Channel.name == name)) is not None:
            continue
        db.session.add(Channel(
            name=name, kind=kind, township=units.get(unit_name) if unit_name else None,
            url_secret=crypto.seal(url), url_hint=vendors.url_hint(kind, url),
            signing_secret=crypto.seal(secret), signing_hint=crypto.last4(secret),
            keyword=keyword, enabled=False, sends_total=0))
    db.session.flush()


def _visits(rng, lead, user, first, last, count, moves, unit_name):
    """``count`` visits from ``first`` to ``last``; each sets the follow-up to the next one."""
    last = max(first, last)
    span = (last - first).days
    dates = sorted(first + dt.timedelta(days=rng.randint(0, span)) for _ in range(count - 1))
    dates.append(last)
    signed_on = next((on for stage, on, _ in moves if stage in ("signed", "started")), None)
    words = {"p": lead.contact_name + (lead.contacts[0].title if lead.contacts else ""),
             "c": lead.company, "n": lead.name, "o": lead.origin or "外地", "u": unit_name}
    for i, day in enumerate(dates):
        pool = AFTER if signed_on is not None and day >= signed_on else BEFORE
        kind, summary, next_step = rng.choice(pool)
        log_visit(user, lead, {
            "visited_on": day, "kind": kind, "summary": summary.format(**words),
            "next_step": next_step, "next_follow_up": dates[i + 1] if i + 1 < len(dates) else None,
        })


def _funds(rng, user, lead, inv, moves, today):
    """Capital arrived since signing: more the further the project has gone."""
    share = {"signed": (0, 5, 15), "started": (2, 25, 50), "producing": (3, 60, 90)}
    if lead.stage not in share:
        return
    count, low, high = share[lead.stage]
    count = count or rng.randint(0, 1)
    signed_on = next(on for stage, on, _ in moves if stage in ("signed", "started"))
    total = inv * rng.randint(low, high) // 100
    span = (today - signed_on).days
    days = sorted(signed_on + dt.timedelta(days=rng.randint(0, span)) for _ in range(count))
    for day in days:
        add_funds(user, lead, day, Decimal(max(1, total // count)))


def _credit_code(rng) -> str:
    """An invented 统一社会信用代码 of a 市中区 company, with a correct check character."""
    body = "91370402" + "".join(rng.choice(CODE_CHARS) for _ in range(9))
    return next(body + c for c in CODE_CHARS if credit_code_valid(body + c))


def _logins() -> list[tuple[str, str, str]]:
    """(username, role, unit name or "") of the demo users present, in the seed's order."""
    names = [u[0] for u in USERS]
    found = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(names)))}
    return [(n, found[n].role, found[n].township.name if found[n].township else "")
            for n in names if n in found]
