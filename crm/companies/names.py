"""Chinese company names: normalised to what identifies the investor, and compared.

``normalise`` removes what varies between two spellings of one company: width (NFKC), case,
spaces, brackets (ASCII and full-width), a leading region (（山东）, 山东省, 烟台市 …), a branch's
own part (…有限公司枣庄分公司: a branch is its head office's investor) and the legal endings
(股份有限公司, 有限责任公司, 有限公司, 集团 …). ``similarity`` compares two normalised names
with rapidfuzz's ``ratio`` (the normalised Indel similarity, 0..1): one character different in a
four-character name (华鲁恒升 / 华鲁恒昌) scores 0.75, well below the default threshold 0.9,
while one character added to or dropped from a name of ten (鑫润泽专用车制造 / 鑫润泽专用汽车制造)
stays above it. Numbers are never "similar": names whose digits differ (…企业1 / …企业10) name
different companies however alike the rest (``same_numbers``).
"""

import re
import unicodedata

from rapidfuzz.distance import Indel

from crm.leads.validation import strip_endings

#: Provinces, autonomous regions and major cities: a leading one is not part of the name.
REGIONS = (
    # provinces, autonomous regions, municipalities, SARs
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
    # Shandong's cities and the district's own
    "济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "日照",
    "临沂", "德州", "聊城", "滨州", "菏泽", "市中区", "滕州", "薛城", "峄城", "台儿庄", "山亭",
    # other major cities
    "深圳", "广州", "杭州", "南京", "苏州", "无锡", "宁波", "武汉", "成都", "西安", "郑州",
    "长沙", "合肥", "福州", "厦门", "沈阳", "大连", "长春", "哈尔滨", "石家庄", "太原", "南昌",
    "昆明", "贵阳", "南宁", "兰州", "乌鲁木齐", "呼和浩特", "银川", "西宁", "拉萨", "海口",
    "常州", "南通", "徐州", "温州", "佛山", "东莞", "珠海", "中山", "泉州", "唐山", "保定",
    "洛阳", "宜昌", "襄阳", "绵阳", "芜湖", "嘉兴", "绍兴", "金华", "台州", "扬州", "盐城",
)
_REGION_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市",
                    "区", "县")
#: Legal forms at the end of a name, longest first (stripped repeatedly: 集团股份有限公司).
ENDINGS = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司", "集团", "公司")
_BRACKETS = "()[]{}<>【】〔〕〖〗「」『』《》〈〉"
_BRACKET_TABLE = str.maketrans("", "", _BRACKETS)
_LEADING_BRACKET = re.compile(r"^[(\[【〔〖「『《〈]([^)\]】〕〗」』》〉]*)[)\]】〕〗」』》〉]")
#: A branch: "<company and legal form><place>分公司" is the company itself.
_BRANCH = re.compile(r"^(.*?(?:有限责任公司|股份有限公司|有限公司|集团))[^)]*?分公司$")
#: The shortest core a region may be taken from (天津大学 keeps its 天津: 大学 names nothing).
_MIN_CORE = 3
_REGION_NAMES = frozenset(r + s for r in REGIONS for s in ("", *_REGION_SUFFIXES))
_REGION_LENGTHS = sorted({len(r) for r in _REGION_NAMES}, reverse=True)


def _leading_region(key: str) -> int:
    """The length of the longest region ``key`` starts with that leaves a core of
    ``_MIN_CORE`` characters (0 when none)."""
    for n in _REGION_LENGTHS:
        if len(key) - n >= _MIN_CORE and key[:n] in _REGION_NAMES:
            return n
    return 0


def _trailing_region(key: str) -> int:
    for n in _REGION_LENGTHS:
        if len(key) - n >= _MIN_CORE and key[-n:] in _REGION_NAMES:
            return n
    return 0


def _strip_region(key: str) -> str:
    return key[_leading_region(key):]


def _is_region(text: str) -> bool:
    return text in _REGION_NAMES


def normalise(name: str) -> str:
    """The name reduced to what identifies the investor: （山东）烟台中宠食品股份有限公司 → 中宠食品."""
    key = unicodedata.normalize("NFKC", name or "").lower()
    key = re.sub(r"\s+", "", key)
    # a leading bracketed region: (山东)…
    match = _LEADING_BRACKET.match(key)
    if match and _is_region(match.group(1)) and len(key) - match.end() >= _MIN_CORE:
        key = key[match.end():]
    key = key.translate(_BRACKET_TABLE)
    branch = _BRANCH.match(key)
    if branch:
        key = branch.group(1)
    elif key.endswith("分公司") and len(key) > 3:
        key = key[:-3]
        n = _trailing_region(key)  # …枣庄分公司 without a legal form before it
        if n:
            key = key[:-n]
    key = strip_endings(key, ENDINGS)
    # regions one after the other: 山东省烟台市…
    for _ in range(3):
        stripped = _strip_region(key)
        if stripped == key:
            break
        key = strip_endings(stripped, ENDINGS)
    return key or unicodedata.normalize("NFKC", name or "").strip()


_DIGITS = re.compile(r"\d+")


def numbers_in(name: str) -> tuple[str, ...]:
    """The numbers a normalised name carries, in order."""
    return tuple(_DIGITS.findall(name))


def same_numbers(a: str, b: str) -> bool:
    """Whether two normalised names carry the same numbers (a similar name with another number
    is another company: 一分厂 and 二分厂 aside, digits are how names are told apart)."""
    return numbers_in(a) == numbers_in(b)


def similarity(a: str, b: str) -> float:
    """How alike two normalised names are, 0..1 (rapidfuzz's normalised Indel similarity)."""
    if not a or not b:
        return 0.0
    return Indel.normalized_similarity(a, b)


def similar(name_a: str, name_b: str, threshold: float) -> bool:
    """Whether two company names (as typed) name the same investor by the threshold."""
    a, b = normalise(name_a), normalise(name_b)
    return a == b or (same_numbers(a, b) and similarity(a, b) >= threshold)
