"""The district's industry list as first installed: frozen data, read by migration 0012 and by
``crm seed-demo`` (and the tests) on a database made without the migrations.

Never edit this list to change an installed district's industries: admins keep the list on its
page, and a change every district must get is a new migration with its own data. Plain data
only (no models), so the migration that reads it stays as it was written.
"""

#: 待归类: the name shown for a lead whose industry text matched no industry (``industry_id``
#: NULL, its text kept); not a row of the list.
UNSORTED = "待归类"

#: (产业链, name, aliases) in the order shown; matched case- and width-insensitively (NFKC).
INDUSTRIES = (
    ("高端装备", "智能装备/机器人", ("智能机器人", "智能装备制造", "智能装备", "机器人",
                                   "工业机器人", "高端智能装备", "智能制造")),
    ("高端装备", "精密制造", ("精密机械", "精密加工", "机械制造", "装备制造")),
    ("新材料", "新材料", ("钙基新材料", "先进光子材料", "特种玻璃", "石英玻璃", "新型材料")),
    ("高端化工", "高端化工", ("化工", "精细化工", "化工新材料")),
    ("新能源", "新能源", ("新能源/光伏", "光伏", "锂电", "锂电池", "储能", "风电", "充电桩",
                        "新能源汽车")),
    ("生物医药", "生物医药", ("医药", "生物医药/医疗器械", "医疗器械", "医疗")),
    ("健康食品", "健康食品", ("食品", "食品加工", "乳制品", "预制菜", "功能食品", "饮品")),
    ("健康食品", "宠物食品", ("宠物用品", "宠物主粮", "宠物")),
    ("矿产资源", "铁精粉加工", ("铁矿", "铁矿采选", "铁精粉", "铁精粉加工和贸易")),
    ("纺织服装", "纺织服装", ("纺织", "服装")),
    ("数字经济", "数字经济", ("电子商务", "跨境电商", "软件信息", "软件和信息技术服务业",
                          "算力", "超算")),
    ("现代服务业", "现代服务业", ("服务业", "商贸", "现代物流", "物流", "文旅")),
    ("其他", "其他", ()),
)
