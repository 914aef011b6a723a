"""Demo content: Changsha's divisions, units with duty lists and a reproducible stream of petitions.

Everything here is pure data generation (no database): the loader in ``server.demo`` writes it.
All texts are ours, written from templates with slots so that 200 petitions read differently.
"""

from __future__ import annotations

import functools
import importlib.util
import random
import zipfile
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
CITY_CODE = "430100"
WINDOW_DAYS = 120

CHANNELS = ("webchat", "wechat", "sms", "phone", "walk_in", "letter")
TARGET_STATUSES = ("registered", "accepted", "not_accepted", "forwarded", "assigned", "in_progress",
                   "replied", "closed", "review_requested", "final", "withdrawn")
REPLIED_STATUSES = frozenset({"replied", "closed", "review_requested", "final"})

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_id_checksum(id17: str) -> str:
    """Return the GB 11643-1999 check character for the first 17 digits of a citizen ID number."""
    if len(id17) != 17 or not id17.isascii() or not id17.isdigit():
        raise ValueError("expected exactly 17 digits")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(id17, _ID_WEIGHTS)) % 11]


# Areas

_DISTRICT_EN = {
    "芙蓉区": "Furong District", "天心区": "Tianxin District", "岳麓区": "Yuelu District",
    "开福区": "Kaifu District", "雨花区": "Yuhua District", "望城区": "Wangcheng District",
    "长沙县": "Changsha County", "浏阳市": "Liuyang City", "宁乡市": "Ningxiang City",
}
# Pinyin for the streets English-language petitions are placed in; each must exist in the dictionary.
_STREET_EN = {
    ("芙蓉区", "五里牌街道"): "Wulipai Subdistrict", ("芙蓉区", "东湖街道"): "Donghu Subdistrict",
    ("芙蓉区", "定王台街道"): "Dingwangtai Subdistrict", ("芙蓉区", "火星街道"): "Huoxing Subdistrict",
    ("天心区", "坡子街街道"): "Pozijie Subdistrict", ("天心区", "金盆岭街道"): "Jinpenling Subdistrict",
    ("天心区", "暮云街道"): "Muyun Subdistrict", ("天心区", "青园街道"): "Qingyuan Subdistrict",
    ("岳麓区", "梅溪湖街道"): "Meixihu Subdistrict", ("岳麓区", "麓谷街道"): "Lugu Subdistrict",
    ("岳麓区", "洋湖街道"): "Yanghu Subdistrict", ("岳麓区", "望月湖街道"): "Wangyuehu Subdistrict",
    ("开福区", "四方坪街道"): "Sifangping Subdistrict", ("开福区", "月湖街道"): "Yuehu Subdistrict",
    ("开福区", "伍家岭街道"): "Wujialing Subdistrict", ("开福区", "湘雅路街道"): "Xiangyalu Subdistrict",
    ("雨花区", "东塘街道"): "Dongtang Subdistrict", ("雨花区", "圭塘街道"): "Guitang Subdistrict",
    ("雨花区", "洞井街道"): "Dongjing Subdistrict", ("雨花区", "侯家塘街道"): "Houjiatang Subdistrict",
    ("望城区", "高塘岭街道"): "Gaotangling Subdistrict", ("望城区", "月亮岛街道"): "Yueliangdao Subdistrict",
    ("望城区", "靖港镇"): "Jinggang Town", ("望城区", "乔口镇"): "Qiaokou Town",
    ("长沙县", "星沙街道"): "Xingsha Subdistrict", ("长沙县", "泉塘街道"): "Quantang Subdistrict",
    ("长沙县", "黄花镇"): "Huanghua Town", ("长沙县", "果园镇"): "Guoyuan Town",
    ("浏阳市", "淮川街道"): "Huaichuan Subdistrict", ("浏阳市", "集里街道"): "Jili Subdistrict",
    ("浏阳市", "大瑶镇"): "Dayao Town", ("浏阳市", "大围山镇"): "Daweishan Town",
    ("宁乡市", "玉潭街道"): "Yutan Subdistrict", ("宁乡市", "白马桥街道"): "Baimaqiao Subdistrict",
    ("宁乡市", "花明楼镇"): "Huaminglou Town", ("宁乡市", "灰汤镇"): "Huitang Town",
}
# Rough share of petitions per district, larger for the populous urban districts.
_DISTRICT_WEIGHTS = {"岳麓区": 15, "雨花区": 15, "开福区": 12, "长沙县": 12, "芙蓉区": 10, "天心区": 10,
                     "浏阳市": 9, "宁乡市": 9, "望城区": 8}


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _dictionary_path() -> Path:
    # find_spec locates the package without importing it (the import is slow and prints a banner).
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jionlp is not installed; its dictionary holds the administrative divisions")
    return Path(spec.submodule_search_locations[0]) / "dictionary" / "china_location.zip"


@functools.lru_cache(maxsize=1)
def _changsha_tree() -> tuple[tuple[dict, ...], dict[str, tuple[str, ...]]]:
    with zipfile.ZipFile(_dictionary_path()) as archive:
        text = archive.read("china_location.txt").decode("utf-8")
    # The file is a tab-indented tree: province, city, county (with codes), town or street, village.
    start = text.find(f"\t长沙市\t{CITY_CODE}\t")
    if start < 0:
        raise RuntimeError("长沙市 not found in the jionlp location dictionary")
    city: dict | None = None
    districts: list[dict] = []
    streets: dict[str, list[dict]] = {}
    villages: dict[str, list[str]] = {}
    county: dict | None = None
    street: dict | None = None
    for line in text[start:].splitlines():
        depth = len(line) - len(line.lstrip("\t"))
        fields = line.strip().split("\t")
        if depth <= 1 and city is not None:
            break
        if depth == 1:
            city = {"code": CITY_CODE, "name": fields[0], "level": "city", "parent_code": None,
                    "short_name": fields[2] if len(fields) > 2 else _short(fields[0]), "name_en": "Changsha"}
        elif depth == 2:
            short = fields[2] if len(fields) > 2 else fields[0]
            # The dictionary gives 长沙县 the short name 长沙, which would shadow the city itself.
            if short == city["short_name"]:
                short = fields[0]
            county = {"code": fields[1], "name": fields[0], "level": "district", "parent_code": CITY_CODE,
                      "short_name": short, "name_en": _DISTRICT_EN.get(fields[0])}
            districts.append(county)
            streets[county["code"]] = []
        elif depth == 3 and county is not None:
            siblings = streets[county["code"]]
            street = {"code": f"{county['code']}{len(siblings) + 1:03d}", "name": fields[0], "level": "street",
                      "parent_code": county["code"], "short_name": _short(fields[0]),
                      "name_en": _STREET_EN.get((county["name"], fields[0]))}
            siblings.append(street)
            villages[street["code"]] = []
        elif depth == 4 and street is not None:
            villages[street["code"]].append(fields[0])
    districts.sort(key=lambda d: d["code"])
    areas = [city, *districts, *(s for d in districts for s in streets[d["code"]])]
    return tuple(areas), {code: tuple(names) for code, names in villages.items()}


def changsha_areas() -> list[dict]:
    """List Changsha, its districts and counties, and their streets and towns, parents first.

    Divisions come from jionlp's ``china_location`` dictionary. The city and district codes are the
    official six-digit ones; streets carry none there, so each gets a derived nine-digit code: its
    county's code plus its 1-based position (three digits) in the dictionary's order. These derived
    codes are stable for one dictionary version but are NOT official statistical division codes.
    """
    return [dict(area) for area in _changsha_tree()[0]]


def _area_index() -> dict[str, dict]:
    return {a["code"]: a for a in _changsha_tree()[0]}


def _street_code(district: str, street: str) -> str:
    districts = {a["name"]: a["code"] for a in _changsha_tree()[0] if a["level"] == "district"}
    for area in _changsha_tree()[0]:
        if area["level"] == "street" and area["parent_code"] == districts[district] and area["name"] == street:
            return area["code"]
    raise KeyError(f"{district}{street} is not in the location dictionary")


# Units

@functools.lru_cache(maxsize=1)
def _units() -> tuple[dict, ...]:
    city = [CITY_CODE]
    yuelu, yuhua, furong, kaifu = "430104", "430111", "430102", "430105"
    street_duties = ["城乡建设/城市管理", "城乡建设/物业管理", "民政/社会救助", "民政/社区治理"]
    rows = [
        ("CS-XFJ", "长沙市信访局", "Changsha Municipal Bureau of Letters and Calls", "city", None, city,
         ["党务政务"],
         "受理群众来信、来访和网上信访事项，负责登记、交办、转送和督查督办，协调处理跨部门、跨地区的疑难信访问题。",
         "Receives letters, visits and online petitions; registers, assigns, forwards and follows them up, "
         "and coordinates difficult cases that span several departments or districts."),
        ("CS-ZJJ", "长沙市住房和城乡建设局", "Changsha Municipal Bureau of Housing and Urban-Rural Development",
         "city", None, city,
         ["城乡建设/住房保障", "城乡建设/房地产市场", "城乡建设/物业管理", "城乡建设/市政设施", "城乡建设/建筑施工"],
         "负责住房保障、房地产市场监管、物业管理行业指导和建筑工程质量安全监管。受理商品房交付、物业服务、保障性住房和市政设施等方面的诉求。",
         "Oversees housing security, the property market, property management and construction quality and "
         "safety; handles complaints about new-home delivery, property services, public housing and utilities."),
        ("CS-STHJ", "长沙市生态环境局", "Changsha Municipal Bureau of Ecology and Environment", "city", None, city,
         ["环境保护"],
         "负责大气、水、土壤和噪声污染防治的监督管理，查处环境违法行为，受理环境污染投诉举报。",
         "Supervises the prevention of air, water, soil and noise pollution, investigates environmental "
         "offences and takes pollution complaints."),
        ("CS-JTYS", "长沙市交通运输局", "Changsha Municipal Transport Bureau", "city", None, city,
         ["交通运输"],
         "负责公共交通、出租汽车和网约车、道路运输及公路养护的行业管理，受理公交线路、出租车服务等方面的投诉和建议。",
         "Regulates public transport, taxis and ride-hailing, road haulage and road maintenance; takes "
         "complaints and suggestions about bus routes and taxi service."),
        ("CS-EDU", "长沙市教育局", "Changsha Municipal Education Bureau", "city", None, city,
         ["教育文体"],
         "负责各级各类学校和校外培训机构的监督管理，受理招生入学、教育收费、师德师风等方面的诉求。",
         "Supervises schools and off-campus tutoring providers; handles enrolment, school fees and teacher "
         "conduct matters."),
        ("CS-HRSS", "长沙市人力资源和社会保障局", "Changsha Municipal Human Resources and Social Security Bureau",
         "city", None, city, ["劳动和社会保障"],
         "负责劳动保障监察、劳动人事争议调解仲裁和社会保险经办。受理拖欠工资、劳动合同、工伤认定及养老、医疗保险等方面的诉求。",
         "Runs labour inspection, labour dispute mediation and arbitration and social insurance; handles unpaid "
         "wages, employment contracts, work injuries, pensions and medical insurance."),
        ("CS-COM", "长沙市商务局", "Changsha Municipal Bureau of Commerce", "city", None, city,
         ["商贸旅游"],
         "负责商贸流通、商业网点和电子商务的行业管理，会同文化旅游部门处理旅游市场秩序问题。",
         "Regulates trade, retail outlets and e-commerce, and works with the culture and tourism authority "
         "on order in the tourism market."),
        ("CS-HEALTH", "长沙市卫生健康委员会", "Changsha Municipal Health Commission", "city", None, city,
         ["卫生计生"],
         "负责医疗机构和公共卫生服务的监督管理，受理就医服务、医疗纠纷、预防接种和计划生育奖励扶助等方面的诉求。",
         "Supervises hospitals, clinics and public health services; handles complaints about medical care, "
         "medical disputes, vaccination and family planning support."),
        ("CS-AGRI", "长沙市农业农村局", "Changsha Municipal Bureau of Agriculture and Rural Affairs", "city", None,
         city, ["农村农业"],
         "负责农村土地承包管理、惠农补贴发放、农资质量监管和农村集体资产监督。",
         "Manages rural land contracting, farm subsidies, the quality of farm supplies and the oversight of "
         "village collective assets."),
        ("CS-PSB", "长沙市公安局", "Changsha Municipal Public Security Bureau", "city", None, city,
         ["政法"],
         "负责社会治安、道路交通安全和户籍管理，受理治安、诈骗、交通违法和户口办理等方面的求助和投诉。",
         "Responsible for public order, road traffic safety and household registration; takes reports about "
         "disorder, fraud, traffic offences and residence matters."),
        ("CS-CIVIL", "长沙市民政局", "Changsha Municipal Civil Affairs Bureau", "city", None, city,
         ["民政"],
         "负责最低生活保障、特困供养、临时救助、养老服务和残疾人福利等工作，指导城乡社区治理。",
         "Runs the minimum living allowance, support for people in extreme poverty, temporary assistance, "
         "elderly care and disability benefits, and guides community governance."),
        ("CS-NRP", "长沙市自然资源和规划局", "Changsha Municipal Bureau of Natural Resources and Planning", "city",
         None, city, ["国土资源"],
         "负责国土空间规划、土地征收和利用、宅基地和不动产登记管理，查处违法用地行为。",
         "Responsible for spatial planning, land expropriation and use, rural homesteads and real estate "
         "registration; investigates illegal land use."),
        ("CS-SAMR", "长沙市市场监督管理局", "Changsha Municipal Administration for Market Regulation", "city", None,
         city, ["经济管理", "商贸旅游/消费维权"],
         "负责食品安全、价格、特种设备和市场主体的监督管理，受理消费投诉和市场违法行为举报。",
         "Supervises food safety, prices, special equipment and businesses; takes consumer complaints and "
         "reports of market offences."),
        ("CS-CGZF", "长沙市城市管理和综合执法局",
         "Changsha Municipal Bureau of Urban Management and Comprehensive Law Enforcement", "city", None, city,
         ["城乡建设/城市管理", "环境保护/大气污染"],
         "负责市容环境卫生、违法建设查处、占道经营和餐饮油烟等城市管理综合执法工作。",
         "Enforces city appearance and sanitation rules and acts against unauthorised construction, street "
         "trading on public roads and restaurant fumes."),
        ("CS-JW", "长沙市纪委监委信访室",
         "Petition Office of the Changsha Commission for Discipline Inspection and Supervisory Commission",
         "city", None, city, ["纪检监察"],
         "受理对党组织、党员和行使公权力的公职人员违纪违法问题的检举控告。",
         "Takes reports and accusations of disciplinary or legal violations by Party organisations, Party "
         "members and public officials."),
        ("CS-MIIT", "长沙市工业和信息化局", "Changsha Municipal Bureau of Industry and Information Technology",
         "city", None, city, ["科技与信息产业"],
         "负责工业和信息化发展、通信基础设施建设协调和信息化推进工作，协调处理通信服务方面的诉求。",
         "Promotes industry and IT, coordinates telecom infrastructure and digitalisation, and mediates "
         "complaints about telecom services."),
        ("YL-GOV", "岳麓区人民政府", "Yuelu District People's Government", "district", None, [yuelu],
         ["城乡建设", "民政", "国土资源", "党务政务"],
         "统筹处理岳麓区范围内的城乡建设、民生保障和土地管理事项，对属地信访事项负总责。",
         "Coordinates construction, welfare and land matters within Yuelu District and bears overall "
         "responsibility for petitions arising there."),
        ("YH-GOV", "雨花区人民政府", "Yuhua District People's Government", "district", None, [yuhua],
         ["城乡建设/城市管理", "民政", "党务政务"],
         "统筹处理雨花区范围内的城市管理、民生保障和政务服务事项，对属地信访事项负总责。",
         "Coordinates city management, welfare and government services within Yuhua District and bears "
         "overall responsibility for petitions arising there."),
        ("YH-ZJJ", "雨花区住房和城乡建设局", "Yuhua District Bureau of Housing and Urban-Rural Development",
         "district", "CS-ZJJ", [yuhua],
         ["城乡建设/住房保障", "城乡建设/物业管理", "城乡建设/房地产市场", "城乡建设/建筑施工"],
         "负责雨花区保障性住房、物业管理和在建工程的日常监管，办理辖区内的住房和物业类诉求。",
         "Handles public housing, property management and building-site supervision in Yuhua District."),
        ("FR-CGJ", "芙蓉区城市管理和综合执法局",
         "Furong District Bureau of Urban Management and Comprehensive Law Enforcement", "district", "CS-CGZF",
         [furong], ["城乡建设/城市管理", "环境保护/大气污染", "环境保护/噪声污染"],
         "负责芙蓉区市容秩序、违法建设、占道经营、餐饮油烟和施工噪声的执法工作。",
         "Enforces street order and acts against unauthorised construction, street trading, restaurant fumes "
         "and construction noise in Furong District."),
        ("KF-HRSS", "开福区人力资源和社会保障局", "Kaifu District Human Resources and Social Security Bureau",
         "district", "CS-HRSS", [kaifu], ["劳动和社会保障"],
         "负责开福区劳动保障监察和社会保险经办，处理辖区企业欠薪、劳动合同和社保缴纳问题。",
         "Runs labour inspection and social insurance in Kaifu District, dealing with unpaid wages, contracts "
         "and contributions at local employers."),
        ("YL-LUGU", "岳麓区麓谷街道办事处", "Lugu Subdistrict Office, Yuelu District", "street", "YL-GOV",
         [_street_code("岳麓区", "麓谷街道")], street_duties,
         "负责麓谷街道辖区的城市管理、物业纠纷调处、社会救助和社区治理，是网格化受理群众诉求的第一站。",
         "Handles city management, property disputes, social assistance and community affairs in Lugu "
         "Subdistrict; the first stop for grid-based handling of residents' requests."),
        ("YL-MXH", "岳麓区梅溪湖街道办事处", "Meixihu Subdistrict Office, Yuelu District", "street", "YL-GOV",
         [_street_code("岳麓区", "梅溪湖街道")], street_duties,
         "负责梅溪湖街道辖区的市容秩序、物业小区管理、困难群众救助和社区服务。",
         "Looks after street order, residential estates, help for families in hardship and community services "
         "in Meixihu Subdistrict."),
        ("YH-DT", "雨花区东塘街道办事处", "Dongtang Subdistrict Office, Yuhua District", "street", "YH-GOV",
         [_street_code("雨花区", "东塘街道")], street_duties,
         "负责东塘街道辖区老旧小区物业管理、占道经营整治、低保等社会救助和社区治理工作。",
         "Handles property management in older estates, street-trading control, social assistance and "
         "community governance in Dongtang Subdistrict."),
    ]
    keys = ("code", "name", "name_en", "level", "parent_code", "area_codes", "categories", "description",
            "description_en")
    return tuple(dict(zip(keys, row)) for row in rows)


def demo_units() -> list[dict]:
    """List the demo units (city bureaus, district offices, street offices) with their duty lists."""
    return [{**u, "area_codes": list(u["area_codes"]), "categories": list(u["categories"])} for u in _units()]


def _suggest_unit(category: str, subcategory: str | None, area_code: str) -> dict:
    areas = _area_index()
    chain = []
    code: str | None = area_code
    while code:
        chain.append(code)
        code = areas[code]["parent_code"]
    best, best_score = None, 0
    for unit in _units():
        level_match = 2 if subcategory and f"{category}/{subcategory}" in unit["categories"] else (
            1 if category in unit["categories"] else 0)
        # The closest jurisdiction wins; within one, a second-level duty beats a first-level one.
        area_match = max((len(chain) - chain.index(c) for c in unit["area_codes"] if c in chain), default=0)
        score = area_match * 10 + level_match if level_match and area_match else 0
        if score > best_score:
            best, best_score = unit, score
    return best or _units()[0]


# Petition templates

@dataclass(frozen=True)
class _Template:
    category: str
    subcategory: str | None
    language: str
    place: str  # where the address points: "estate", "road" or "rural" (a village)
    titles: tuple[str, ...]
    body: str
    demand: str
    reply: str
    group: str | None = None  # who else is affected, when a collective petition fits the story
    weight: int = 1


def _zh(cat, sub, place, titles, body, demand, reply, group=None, weight=1) -> _Template:
    return _Template(cat, sub, "zh", place, titles, body, demand, reply, group, weight)


def _en(cat, sub, place, titles, body, demand, reply, group=None, weight=1) -> _Template:
    return _Template(cat, sub, "en", place, titles, body, demand, reply, group, weight)


_TEMPLATES: tuple[_Template, ...] = (
    _zh("城乡建设", "物业管理", "estate", ("{estate}物业乱收费", "{estate}物业擅自上调物业费", "反映{estate}物业收费不合理"),
        "我是{area}{estate}的业主。小区物业{co}物业公司从{since}起把物业费从每平方米{fee_old}元涨到{fee_new}元，事先没有召开业主大会，"
        "也没有公示服务成本；另外每户每月还要交{amt_xs}元“垃圾清运费”，不交就停门禁卡。物业服务却越来越差，楼道没人打扫，绿化也没人管。",
        "要求核查物业费上涨是否合法，退还多收的费用，恢复门禁卡。",
        "经{unit}会同社区核实，{estate}物业费调整未经业主大会表决，已责令{co}物业公司暂停执行新标准并退还多收费用，"
        "违规收取的垃圾清运费已停止收取。今后将督促物业公司按合同提供服务，欢迎业主继续监督。",
        group="本小区业主", weight=3),
    _zh("城乡建设", "物业管理", "estate", ("{estate}{bld}栋电梯频繁故障", "电梯经常困人，物业迟迟不修"),
        "{area}{estate}{bld}栋的电梯近{months}个月来坏了不下十次，{days}天前还困过人，一位老人在里面被困了四十多分钟。"
        "找物业多次，物业一直说在等配件，只是临时修一下。楼里老人和小孩多，上下楼很不方便，也有安全隐患。",
        "要求督促物业和维保单位彻底维修电梯，公开维保记录。",
        "经{unit}核查，{estate}{bld}栋电梯因控制主板老化导致故障频发。已督促物业公司和维保单位更换主板，"
        "经特种设备检验机构检测合格后恢复运行，并要求物业每月公示维保记录。", weight=2),
    _zh("城乡建设", "城市管理", "estate", ("举报{estate}楼顶违章搭建", "{estate}{bld}栋顶楼私搭乱建"),
        "{area}{estate}{bld}栋顶楼住户最近在楼顶搭了一个约{sqm}平方米的彩钢棚，施工时破坏了屋面防水层，楼下几户的天花板已经开始渗水。"
        "我们找过物业，物业说管不了，也报过社区，至今还在继续施工。",
        "请执法部门依法拆除违章搭建，并督促修复屋面防水。",
        "{unit}已到现场核查，确认{estate}{bld}栋顶楼彩钢棚未办理任何规划手续，属违法建设，已依法下达限期拆除通知书，"
        "当事人已于{reply_days}日内自行拆除；屋面防水由物业公司组织修复。", group="同楼住户", weight=2),
    _zh("城乡建设", "城市管理", "road", ("{road}夜市占道经营", "{road}流动摊贩占道严重"),
        "{area}{road}靠近{estate}门口的一段路，每天傍晚六点以后就有十几个流动摊贩占道摆摊，烧烤、炒粉、水果都有，"
        "把人行道和一条车道全占了，车辆进出小区非常困难。收摊后满地垃圾和油污，也没人清理，夏天气味很大。",
        "希望加强巡查，规范摊贩经营，保障道路通行。",
        "{unit}接件后已在{road}安排执法队员定时巡查，对占道摊贩进行劝导，并引导其到附近规范摊点经营。"
        "同时联系环卫部门增加该路段夜间保洁频次。", weight=2),
    _zh("城乡建设", "房地产市场", "estate", ("{estate}楼盘逾期交房", "开发商逾期{months}个月未交房"),
        "我在{area}{estate}买了一套商品房，合同约定{since}交房，现在已经逾期{months}个月，开发商{co}置业公司一直以资金紧张为由拖延，"
        "工地基本处于停工状态。我们每个月照样还房贷，还要在外面租房，经济压力很大。",
        "要求督促开发商尽快复工交房，并按合同支付逾期违约金。",
        "{unit}已约谈{co}置业公司，督促其制定复工计划，项目预售资金监管账户资金优先用于工程建设。开发商承诺分期交付，"
        "逾期违约金按购房合同约定执行；如协商不成，购房人可依法提起诉讼。", group="购房业主", weight=2),
    _zh("城乡建设", "住房保障", "road", ("公租房申请迟迟没有结果", "咨询公租房审核进度"),
        "我是{area}的居民，家里三口人，人均月收入低于保障标准。{months}个月前通过社区提交了公租房申请，要求补的材料也都补齐了，"
        "但到现在还没有收到审核结果。问社区说在等区里审核，问区里又说要等统一配租，不知道到底办到哪一步了。",
        "希望告知审核进度和预计的配租时间。",
        "经{unit}查询，您的公租房申请已通过区级审核并进入轮候名单，将在下一批次统一配租时按轮候顺序安排，届时社区会电话通知您。"),
    _zh("城乡建设", "市政设施", "road", ("{road}一下雨就积水", "{road}路口积水严重"),
        "{area}{road}与{road2}交叉口一带，只要下大雨就积水，最深的时候没过小腿，电动车经常在水里熄火，路边商铺也被淹过好几次。"
        "这个问题已经存在好几年了，估计是排水管堵塞或者管径太小，一直没有得到解决。",
        "请市政部门疏通或改造排水管网，彻底解决积水问题。",
        "{unit}已组织对{road}与{road2}交叉口排水管网进行清淤疏通，清理淤泥约{k}吨，并已将该处雨水管扩容改造列入今年市政维修计划。",
        weight=2),
    _en("城乡建设", "物业管理", "estate", ("Property fee raised without a vote", "Unfair property management fees"),
        "I own a flat in {estate_en}, {area_en}. Since {since_en} the property company has raised the fee from "
        "{fee_old} to {fee_new} yuan per square metre without any owners' meeting, and it blocks the access card "
        "of anyone who has not paid.",
        "Check whether the increase is lawful and refund the extra fees.",
        "{unit} checked with the residents' committee: the fee increase at {estate_en} was not approved by the "
        "owners' assembly. The property company has been ordered to suspend it and refund the difference.",
        group="owners", weight=2),
    _en("城乡建设", "物业管理", "estate", ("The lift in my building keeps failing",),
        "The lift in Building {bld} of {estate_en}, {area_en} has broken down again and again over the past "
        "{months} months. {days} days ago an elderly neighbour was trapped inside for forty minutes. The property "
        "company only patches it up.",
        "Have the lift properly repaired and publish the maintenance records.",
        "{unit} inspected the lift in Building {bld}: the control board was worn out. It has been replaced, the "
        "lift passed a safety test, and maintenance records are now posted in the lobby every month."),
    _en("城乡建设", "城市管理", "road", ("Street stalls blocking the pavement",),
        "Every evening dozens of food stalls occupy the pavement on {road_en} near {estate_en}, {area_en}. "
        "Pedestrians, including children and people with prams, have to walk in the traffic lane, and the stalls "
        "leave grease and rubbish behind.",
        "Keep the pavement clear and move the stalls to a proper market.",
        "{unit} has added evening patrols on {road_en} and moved the stalls to a managed night market nearby. "
        "Street cleaning after 10 pm has also been increased."),

    _zh("环境保护", "噪声污染", "road", ("{road}工地夜间施工噪音扰民", "工地半夜施工吵得无法休息"),
        "{area}{road}旁边有个在建工地，最近{time}还在打桩、浇筑混凝土，渣土车也进进出出，噪音非常大。"
        "附近{estate}的居民根本没法休息，家里有老人和要考试的孩子。施工方说办了夜间施工许可，但我们从没见过公示。",
        "要求核查夜间施工许可，禁止违规夜间施工。",
        "{unit}经夜间突击检查，该工地未取得夜间施工许可，已依法立案调查并责令停止夜间作业。后续将通过噪声在线监测设备持续监管，"
        "发现违规将从重处罚。", group="周边居民", weight=2),
    _zh("环境保护", "大气污染", "estate", ("{estate}楼下餐馆油烟直排", "餐馆油烟熏得不敢开窗"),
        "{area}{estate}{bld}栋一楼新开了一家{restaurant}，没有安装油烟净化设施，油烟从后厨窗户直接往外排，楼上住户根本不敢开窗，"
        "衣服也晾不了。饭店的排风机一直开到深夜十二点，噪音也很大。",
        "要求督促餐馆安装油烟净化器并规范排放。",
        "{unit}已对该餐馆进行检查，责令其限期安装油烟净化设施并将排烟管道引至楼顶排放。经复查，净化设施已安装并正常运行。",
        weight=2),
    _zh("环境保护", "噪声污染", "estate", ("广场舞音响太吵", "{estate}旁广场舞噪音扰民"),
        "{area}{estate}旁边的小广场每天早上六点多和晚上七点到十点都有人跳广场舞，音响开得特别大，关着窗户都能听到。"
        "我们上夜班的人白天晚上都休息不好，和领队沟通过几次，对方说广场是公共场所谁都能跳。",
        "希望协调控制音量和时间，文明健身。",
        "{unit}与社区、派出所一起约谈了广场舞队伍负责人，约定晚上九点前结束，音量控制在规定范围内，并由社区志愿者用分贝仪监督。",
        group="周边居民"),
    _zh("环境保护", "水污染", "estate", ("排水渠有人偷排污水", "小区后面河沟发黑发臭"),
        "{area}{estate}后面的排水渠最近水发黑、发臭，沿岸有一根暗管白天不排、晚上偷偷往渠里排灰白色的污水，"
        "怀疑是附近一家{factory}。天气一热臭味就飘进小区，蚊子也特别多。",
        "请环保部门查清排污来源并依法处理。",
        "{unit}执法人员夜间蹲守取样，确认排污口为附近一家{factory}所设，已依法封堵暗管并立案处罚，责令其建设污水预处理设施后方可恢复生产。"),
    _en("环境保护", "噪声污染", "road", ("Night-time construction noise", "Construction noise after midnight"),
        "Noise from a construction site on {road_en} in {area_en} goes on {time_en}: piling, concrete pumps and "
        "trucks. Nobody in the nearby flats can sleep. The builder says it has a night-work permit, but none has "
        "been posted.",
        "Check the permit and stop the night work.",
        "{unit} carried out a night inspection and found the site had no night-work permit. Night work has been "
        "stopped, a penalty case opened, and a noise monitor installed at the site.", group="residents"),
    _en("环境保护", "大气污染", "estate", ("Restaurant fumes entering our flat",),
        "A {restaurant_en} opened on the ground floor of Building {bld}, {estate_en}, {area_en}. It has no fume "
        "filter, so smoke and cooking smells pour into the flats above and we cannot open our windows.",
        "Make the restaurant install a fume filter.",
        "{unit} inspected the restaurant and ordered it to fit a fume filter and route the exhaust to the roof. "
        "A follow-up visit confirmed the filter is working."),

    _zh("交通运输", "公共交通", "road", ("建议恢复{bus}路公交原线路", "{bus}路公交改线后出行不便"),
        "{bus}路公交车从{since}起调整线路，不再经过{road}，{estate}一带的居民去地铁站只能步行二十多分钟，老人和孩子出行很不方便。"
        "线路调整前没有征求沿线居民意见，站牌也是突然撤掉的。",
        "建议恢复原线路或在{road}增设接驳公交。",
        "{unit}经客流调查，决定在{road}增设一条社区微循环公交接驳地铁站，预计一个月内开通；{bus}路线路调整方案将在下一轮线网优化时征求沿线居民意见。",
        group="沿线居民", weight=2),
    _zh("交通运输", "公共交通", "road", ("{bus}路公交班次间隔太长", "{bus}路公交车经常不进站"),
        "我每天早上在{road}站坐{bus}路公交上班，高峰期经常等四十分钟都来不了一趟车，来了也挤不上去。"
        "有的司机看站台人多干脆不进站，直接开走。{days}天前我因为这个迟到被扣了工资。",
        "希望增加高峰期班次，规范司机进站停靠。",
        "{unit}已责成公交企业在早晚高峰为{bus}路加密班次，发车间隔缩短至十分钟以内，并对不进站停靠的驾驶员进行了考核扣分。"),
    _zh("交通运输", "出租车与网约车", "road", ("出租车司机拒载绕路", "反映出租车不打表议价"),
        "{days}天前晚上九点多，我在{area}{road}打了一辆出租车，车牌号湘A{plate}。司机不打表，开口就要{amt_xs}元，我不同意他就绕路，"
        "最后多收了将近一倍的钱，态度还很恶劣。我保存了行程截图和付款记录。",
        "要求查处该司机，退还多收的车费。",
        "{unit}调取了车载定位和计价器记录，核实湘A{plate}驾驶员存在不按规定使用计价器的行为，已依法处罚并责令退还多收车费。"),
    _zh("交通运输", "道路养护", "road", ("{road}路面坑洼不平", "{road}破损路面长期未修"),
        "{area}{road}从{estate}到{road2}这一段路面破损严重，坑洼很多，下雨后积水看不清，已经有好几个骑电动车的人摔倒了。"
        "这段路开挖过好几次，每次回填都不平整。",
        "请尽快修复路面，消除安全隐患。",
        "{unit}已安排养护单位对{road}破损路段进行铣刨重铺，施工已完成，并要求今后管线开挖后必须按标准回填恢复。"),
    _en("交通运输", "公共交通", "road", ("Bus route {bus} was changed",),
        "Bus route {bus} stopped serving {road_en} in {area_en} from {since_en}, with no consultation. Older "
        "residents of {estate_en} now have to walk twenty minutes to reach the metro station.",
        "Restore the old route or add a shuttle bus to the metro.",
        "{unit} surveyed passenger numbers and will open a community shuttle bus from {road_en} to the metro "
        "station within a month.", group="residents"),
    _en("交通运输", "出租车与网约车", "road", ("Taxi driver refused to use the meter",),
        "{days} days ago I took a taxi (plate Xiang A {plate}) from {road_en}, {area_en}. The driver refused to use "
        "the meter, charged me almost double and shouted at me when I asked for a receipt. I kept the payment "
        "record.",
        "Punish the driver and refund the overcharge.",
        "{unit} checked the taxi's GPS and meter records, confirmed the overcharge, fined the driver and arranged "
        "a refund of the difference."),

    _zh("教育文体", "义务教育", "estate", ("孩子入学划片不合理", "{estate}学区划分调整有异议"),
        "我家住{area}{estate}，房产和户口都在本小区，孩子今年上一年级。原来对口的是{school}，今年突然被划到了{k}公里外的另一所学校，"
        "上学路上还要穿过{road}，早晚车流量很大，孩子上下学很不安全。",
        "希望重新评估学区划分，就近安排入学。",
        "{unit}答复：今年学区调整是根据学位供给和生源变化作出的，{estate}适龄儿童按新划片入学；考虑到交通安全，"
        "已协调交警部门在{road}路口增设上下学时段护学岗。", group="本小区适龄儿童家长", weight=2),
    _zh("教育文体", "义务教育", "road", ("{school}违规收取资料费", "反映学校乱收费"),
        "孩子在{school}读{grade}，开学时班主任在家长群里要求每人交{amt_s}元“资料费”和“课后服务费”，既没有收费公示，也不开收据，"
        "不交的孩子被安排坐在最后一排。我们不反对正常收费，但希望公开透明。",
        "要求核查收费项目，退还违规收取的费用。",
        "{unit}经调查，{school}收取的资料费未经审批，已责令学校全额退还，并对相关责任人进行了诫勉谈话。课后服务费按自愿原则收取并公示。",
        weight=2),
    _zh("教育文体", "义务教育", "road", ("培训机构关门，学费退不了", "{training}突然关门"),
        "{months}个月前我给孩子在{area}的{training}报了两年的课程，一次性交了{amt_m}元。上周机构突然关门，老师说老板已经联系不上，"
        "剩下的课时没上完，钱也退不了。和我们情况一样的家长有很多。",
        "要求有关部门介入，追回剩余学费。",
        "{unit}已会同市场监管、公安等部门成立工作专班，对{training}负责人立案调查并冻结其监管账户资金；"
        "请家长到所在区教育局登记预付费用，待清算后按比例退还。", group="学员家长", weight=2),
    _zh("教育文体", "师德师风", "road", ("举报教师有偿补课", "老师变相要求学生参加补课"),
        "{school}有位老师在校外租了房子办补习班，每周末给自己班上的学生补课，每人每月收费{amt_s}元。不去的学生上课时会被冷落，"
        "作业也批得特别严。家长敢怒不敢言，只能匿名反映。",
        "请教育部门核查，制止在职教师有偿补课。",
        "{unit}经核查，该教师确有组织本班学生有偿补课的行为，已按规定给予处分，取消其本年度评优评先资格，并责令退还所收费用。"),
    _zh("教育文体", "体育设施", "estate", ("体育公园球场长期关闭",),
        "{area}{estate}附近的社区体育公园，篮球场和羽毛球场围起来已经{months}个月了，说是要维修，但一直没人施工。"
        "附近居民想锻炼只能在马路边跑步，很不安全。",
        "希望尽快完成维修并对外开放。",
        "{unit}答复：该体育公园场地维修因施工单位变更有所延误，现已重新确定施工单位，预计{reply_days}日内完工并恢复开放。"),
    _en("教育文体", "义务教育", "estate", ("Primary school place for my child",),
        "I am a foreign teacher living in {area_en} with a residence permit. My son turns six this year. The "
        "local primary school says it cannot register him because our flat is rented. Which school can he "
        "attend, and what documents do we need?",
        "Tell me how my child can enrol in a local school.",
        "{unit} replies: children of foreign residents with valid residence permits apply through the district "
        "education bureau. Bring the passport, residence permit and rental contract; a nearby place will be "
        "arranged."),
    _en("教育文体", "义务教育", "road", ("Tutoring centre closed, no refund",),
        "{months} months ago I paid {amt_m} yuan in advance for English and maths classes for my daughter at a "
        "tutoring centre in {area_en}. Last week it closed overnight and the owner cannot be reached.",
        "Help us get back the fees for unused classes.",
        "{unit} has set up a joint team with market regulators and the police and frozen the centre's escrow "
        "account. Please register your claim with the district education bureau.", group="parents"),

    _zh("劳动和社会保障", "劳动关系", "road", ("拖欠农民工工资{amt_m}元", "{co}劳务公司拖欠工资", "讨要被拖欠的工资"),
        "我们是在{area}{road}一个在建项目干活的农民工，湖南{co}建筑劳务有限公司已经拖欠我们{months}个月的工资，我个人被欠{amt_m}元。"
        "包工头现在电话不接，项目部说工程款早就拨给劳务公司了，两边互相推诿。我们家里都等着这笔钱用。",
        "要求责令用工单位尽快足额支付被拖欠的工资。",
        "{unit}劳动保障监察机构已立案调查，责令总承包单位从农民工工资专用账户中先行垫付，被拖欠工资已于{reply_days}日内足额发放到工人个人账户。"
        "对劳务公司的违法行为将依法处理并纳入失信名单。", group="农民工", weight=4),
    _zh("劳动和社会保障", "劳动关系", "road", ("公司不签劳动合同不交社保", "被公司无故辞退"),
        "我在{area}的{co}科技有限公司工作了{months}个月，公司一直不和我签劳动合同，也没有缴纳社保。上周我提出要签合同，"
        "公司就以试用期不合格为由让我走人，当月工资也只发了一半。",
        "要求公司支付未签合同的双倍工资和经济补偿，补缴社保。",
        "{unit}经调查，{co}科技有限公司确未与您签订书面劳动合同，已责令其限期改正并补缴社会保险费；"
        "双倍工资和经济补偿可向劳动人事争议仲裁委员会申请仲裁，仲裁不收费。", weight=2),
    _zh("劳动和社会保障", "劳动关系", "road", ("工伤认定迟迟没有结果",),
        "我丈夫在{area}一家{factory}上班时被机器压伤了手，住院花了{amt_m}元。我们{months}个月前就提交了工伤认定申请，"
        "材料也都齐全，到现在还没有结论，公司也不肯垫付医药费。",
        "希望尽快作出工伤认定，督促企业垫付医疗费。",
        "{unit}答复：您的工伤认定申请已受理，因需调查核实事故经过依法中止了一段时间，现已作出认定工伤的决定，决定书将邮寄送达，"
        "企业应按规定支付相关待遇。"),
    _zh("劳动和社会保障", "社会保险", "road", ("医保报销比例有疑问", "住院医保报销后自付太高"),
        "我母亲{since}在{hospital}住院{days}天，总费用{amt_m}元，用医保结算后自付部分还是很高。医院说有一部分药品和耗材不在医保目录内，"
        "但住院前没人告知我们。想问一下这样的报销比例是否正常。",
        "请核实报销是否按规定执行，并解释自付费用明细。",
        "{unit}经核查，该次住院结算符合现行医保政策，自付部分主要为目录外药品和乙类药品的个人先行自付部分。"
        "已要求医院今后使用目录外药品时履行告知义务并签字确认。", weight=2),
    _zh("劳动和社会保障", "社会保险", "road", ("养老保险转移办理难",),
        "我以前在广东工作缴了{k}年社保，{months}个月前回长沙工作，申请把养老保险关系转回来，窗口说要等广东那边回复，至今没有进展。"
        "我马上到退休年龄了，很担心影响领取养老金。",
        "希望尽快办理养老保险关系转移接续。",
        "{unit}已通过全国社会保险关系转移平台与转出地联系，您的养老保险关系已转移完成，缴费年限合并计算，不影响退休待遇领取。"),
    _en("劳动和社会保障", "劳动关系", "road", ("My employer has not paid my wages", "Wages unpaid for {months} months"),
        "My employer has not paid my wages for {months} months. I teach English at {co_en} Education in "
        "{area_en} and I am owed about {amt_m} yuan. The manager keeps promising to pay next week but never does.",
        "Make the company pay the wages it owes me.",
        "{unit}'s labour inspectors opened a case against {co_en} Education and ordered it to pay the outstanding "
        "wages within {reply_days} days. If it does not, you may apply for free labour arbitration.",
        group="colleagues", weight=2),
    _en("劳动和社会保障", "社会保险", "road", ("Social insurance not paid by employer",),
        "I have worked for {co_en} Trading in {area_en} for {months} months. My contract says the company pays "
        "social insurance, but when I checked online no contributions had been made. HR ignores my messages.",
        "Make the company pay the missing contributions.",
        "{unit} confirmed that {co_en} Trading had not registered you for social insurance. The company has been "
        "ordered to register you and pay the arrears with a late-payment surcharge."),

    _zh("商贸旅游", "消费维权", "road", ("{gym}突然关门，预付卡无法退费", "健身房跑路，会员卡退费难"),
        "我在{area}的{gym}办了一张年卡，花了{amt_card}元，才去了不到十次，上周门店突然贴出通知说“装修停业”，之后就再也联系不上店长。"
        "和我一样办了卡的会员有几百人。",
        "要求商家退还剩余预付费用。",
        "{unit}已对{gym}经营者立案调查，并将涉嫌卷款逃匿的线索移送公安机关。请会员携带办卡凭证到辖区市场监管所登记，依法追偿。",
        group="会员", weight=2),
    _zh("商贸旅游", "消费维权", "road", ("买的{appliance}有质量问题商家不退换",),
        "我{days}天前在{area}的{store}买了一台{appliance}，花了{amt_card}元，用了不到一个星期就出现故障。商家说要先寄回厂家检测，"
        "检测要一个月，也不给换新，售后电话一直打不通。",
        "要求按三包规定退货或换货。",
        "{unit}组织双方调解，商家同意按三包规定为您更换同型号新机，已于{reply_days}日内完成更换。"),
    _zh("商贸旅游", "旅游服务", "road", ("跟团游被强制购物", "低价旅游团被带进购物店"),
        "我{days}天前参加了一家旅行社组织的一日游，团费只要{amt_xs}元。行程中导游把我们带到好几家玉器店和特产店，"
        "每家都要待一个多小时，不买东西导游就冷嘲热讽，景点反而只逛了半小时。",
        "要求查处旅行社强制购物行为。",
        "{unit}已约谈该旅行社负责人，核实其存在以不合理低价组织旅游、指定购物场所的行为，已依法立案处罚，并对导游作出处理。"),
    _en("商贸旅游", "消费维权", "road", ("Gym closed with my prepaid membership",),
        "I paid {amt_card} yuan for a one-year membership at {gym_en} in {area_en}. After a few weeks the gym "
        "closed for 'renovation' and the manager stopped answering. Hundreds of members are in the same situation.",
        "Help us get refunds for the unused membership.",
        "{unit} opened a case against the operator of {gym_en} and passed the evidence of possible fraud to the "
        "police. Please register your claim with the local market regulation office.", group="members"),
    _en("商贸旅游", "旅游服务", "road", ("Overcharged on a day tour",),
        "On a day tour booked with a travel agency in Changsha, the guide took us to three jewellery shops and "
        "pressured us to buy. The ticket to the scenic area was supposed to be included, but at the gate we had "
        "to pay {amt_xs} yuan extra.",
        "Investigate the travel agency and refund the ticket.",
        "{unit} interviewed the travel agency, confirmed the forced shopping and the extra charge, and ordered a "
        "refund of the ticket. The agency has been fined."),

    _zh("卫生计生", "医疗服务", "road", ("{hospital}看病排队时间太长", "医院挂号难、排队久"),
        "我带老人去{hospital}看病，早上七点就到了，挂号排了一个小时，看诊又等了三个多小时，做检查还要预约到{days}天以后。"
        "医院自助机经常坏，人工窗口只开两个，老年人不会用手机预约，很不方便。",
        "希望医院增加窗口，优化就诊流程，照顾老年人。",
        "{unit}已督促{hospital}增设老年人绿色通道和人工挂号窗口，安排志愿者协助使用自助机，并延长大型检查设备开放时间。",
        weight=2),
    _zh("卫生计生", "医疗服务", "road", ("对手术结果有异议", "反映医疗纠纷问题"),
        "我父亲{since}在{hospital}做了膝关节手术，术后一直疼痛、伤口感染，又住院{days}天。我们认为医院在手术和术后护理上有过失，"
        "多次找医院协商，医院只同意减免部分费用。",
        "要求进行医疗损害鉴定并依法赔偿。",
        "{unit}答复：医疗纠纷可通过双方协商、人民调解或诉讼解决。已告知您向市医疗纠纷人民调解委员会申请免费调解，并可申请医疗损害鉴定。"),
    _zh("卫生计生", "公共卫生", "estate", ("社区疫苗接种预约难",),
        "我家宝宝{k}个月大，要打疫苗，{area}社区卫生服务中心每周只开放两个半天接种，网上预约一放号就没了，"
        "已经连续抢了三周都没约上，担心耽误接种时间。",
        "希望增加接种门诊开放时间和预约名额。",
        "{unit}已协调该社区卫生服务中心将预防接种门诊开放时间增加到每周四个半天，并预留部分现场号给预约困难的家庭。"),
    _en("卫生计生", "医疗服务", "road", ("Charged twice at a hospital",),
        "I was treated in the emergency department of {hospital_en} in {area_en} in {since_en}. I paid at the "
        "counter and the same amount, {amt_card} yuan, was also taken from my bank card. The billing office told "
        "me to come back next month.",
        "Refund the duplicate payment.",
        "{unit} contacted {hospital_en}: the duplicate charge was caused by a payment system error and has been "
        "refunded to your card."),
    _en("卫生计生", "公共卫生", "estate", ("Where can my baby get vaccinated?",),
        "We recently moved to {area_en} and our baby is {k} months old. The community health centre says we must "
        "book online, but the booking system only accepts a Chinese ID number. How can a foreign family register?",
        "Explain how foreign residents can book vaccinations.",
        "{unit} replies: foreign residents can register at the community health centre's vaccination clinic with "
        "a passport and the baby's vaccination record; appointments are then booked by phone."),

    _zh("农村农业", "农村土地承包", "rural", ("土地流转租金一直未兑现", "{village}土地流转费被拖欠"),
        "我是{area}{village}的村民，{since}村里把我们组的{k}百亩承包地统一流转给一家农业公司种蔬菜，约定每亩每年租金{amt_rent}元。"
        "现在已经拖欠了一年多，公司老板说经营困难，村里也不管。",
        "要求兑现土地流转租金。",
        "{unit}会同镇农经站调查核实，该农业公司确实欠付土地流转租金，经协调已制定分期支付方案，首期租金已发放到户，剩余部分三个月内付清。",
        group="村民", weight=2),
    _zh("农村农业", "惠农补贴", "rural", ("耕地地力保护补贴没有发放",),
        "我家在{area}{village}种了{k}亩水稻，往年的耕地地力保护补贴都是打到一卡通上，去年的到现在还没收到。"
        "问村干部说是名单报漏了，让我们等，已经等了{months}个月。",
        "请核实补贴发放情况并予以补发。",
        "{unit}经核查，您家的补贴因承包面积信息未及时更新导致漏报，现已补录并补发到您的惠民惠农财政补贴“一卡通”账户。"),
    _zh("农村农业", "村务管理", "rural", ("村务财务长期不公开",),
        "{area}{village}的村务公开栏已经两年没有更新了，村里出租集体山林和门面的收入有多少、用在哪里，村民都不知道。"
        "我们要求查看账目，村干部一直推脱。",
        "要求公开村级财务，审计集体资产收支。",
        "{unit}已组织镇农经站对{village}近三年集体财务进行专项审计，并督促村委会按季度公开财务收支，审计结果将向村民公布。",
        group="村民"),
    _en("农村农业", "农业生产", "rural", ("Fake fertiliser sold to farmers",),
        "My wife's family farms in a village in {area_en}. The fertiliser they bought from a local shop this "
        "spring turned out to be fake: the rice seedlings turned yellow and the harvest will be poor. Other "
        "farmers had the same problem.",
        "Investigate the shop and compensate the farmers.",
        "{unit} tested samples of the fertiliser, confirmed it was substandard, stopped the shop selling farm "
        "supplies and is arranging compensation for the farmers.", group="farmers"),

    _zh("政法", "治安管理", "estate", ("举报出租屋聚众赌博",),
        "{area}{estate}{bld}栋有一户出租屋，每天晚上都有十几个人进出，打麻将、推牌九到凌晨，声音很大，楼道里烟头满地，"
        "怀疑有人在里面聚众赌博。住户都很害怕，不敢出面。",
        "请公安机关依法查处。",
        "{unit}接报后组织警力对该出租屋进行了检查，查获涉赌人员并依法作出治安处罚，同时对房东进行了教育和出租屋登记管理。"),
    _zh("政法", "交通管理", "estate", ("小区门口乱停车堵塞消防通道",),
        "{area}{estate}门口和消防通道上每天都停满了车，晚上更严重，救护车和消防车根本进不来。上个月小区有位老人突发疾病，"
        "救护车被堵在外面十几分钟。",
        "希望交警加强管理，清理消防通道违停车辆。",
        "{unit}已安排交警对{estate}门口及周边道路加强巡查，依法处罚占用消防通道的车辆，并协调物业施划禁停标线、安装隔离桩。"),
    _zh("政法", "治安管理", "road", ("遭遇网络刷单诈骗", "被骗{amt_m}元，希望尽快立案"),
        "我{days}天前在网上看到兼职刷单的广告，对方先返了几十元佣金，后来让我做“大额任务”，我陆续转了{amt_m}元，之后就被对方拉黑了。"
        "我已经到辖区派出所报案，但一直没有进展。",
        "希望公安机关尽快侦查，追回被骗钱款。",
        "{unit}答复：您被诈骗一案已立案侦查，涉案账户已紧急止付冻结，有进展将及时告知。请提高警惕，凡是刷单返利都是诈骗。"),
    _zh("政法", "户籍管理", "road", ("孩子落户手续办理问题",),
        "我们夫妻俩都是{district}户口，孩子{months}个月前在外地出生，办理出生登记时派出所要求的材料很多，其中一项要回老家开证明，"
        "来回折腾了三次还没办好。",
        "希望简化新生儿落户材料，一次性告知。",
        "{unit}答复：新生儿落户已纳入“出生一件事”联办，凭出生医学证明和父母户口簿即可办理，无需另开证明；已对窗口未一次性告知的问题进行通报。"),
    _en("政法", "交通管理", "estate", ("Parked cars blocking the fire lane",),
        "Every night cars are parked across the fire lane at the entrance of {estate_en}, {area_en}. Last month "
        "an ambulance could not get in for more than ten minutes. The property company says it cannot stop them.",
        "Enforce the no-parking rule at the fire lane.",
        "{unit} has increased traffic police patrols around {estate_en}, fined vehicles blocking the fire lane "
        "and asked the property company to paint no-parking lines and install bollards."),
    _en("政法", "治安管理", "road", ("Online shopping scam",),
        "I paid {amt_card} yuan to a website selling a second-hand laptop. After payment the seller disappeared "
        "and the website went offline. I reported it at the police station in {area_en} {days} days ago but have "
        "heard nothing.",
        "Investigate the case and tell me its progress.",
        "{unit} replies: your case has been opened for investigation and the receiving account frozen. The police "
        "station will contact you when there is progress."),

    _zh("民政", "社会救助", "road", ("低保申请被退回", "咨询低保申请条件"),
        "我今年{age}岁，丈夫去年因病去世，我自己有慢性病干不了重活，孩子还在上学。{months}个月前向社区申请低保，"
        "被告知家里有一台车不符合条件，可那是十多年前的旧面包车，早就不值钱了。",
        "希望重新审核低保申请。",
        "{unit}组织入户复核，认定该车辆为家庭生产生活必需的低价值车辆，不影响低保认定，经重新审核您家已纳入最低生活保障范围，下月起发放。",
        weight=2),
    _zh("民政", "养老服务", "road", ("养老院护理服务差",),
        "我母亲住在{area}一家民办养老院，每月交{amt_card}元。最近去看她发现身上有褥疮，房间有异味，一个护工要照顾十几位老人，"
        "饭菜也很差。跟院方反映，院方说人手不够。",
        "请民政部门检查该养老院的服务质量。",
        "{unit}对该养老院进行了突击检查，责令其限期增配护理人员、整改卫生和膳食问题，一个月后复查，整改不到位将依法处理。"),
    _zh("民政", "残疾人权益", "road", ("残疾人两项补贴停发",),
        "我儿子是二级肢体残疾，以前每月都能领到困难残疾人生活补贴和重度残疾人护理补贴，从{since}起突然停发了，"
        "去{area}社区问也说不清楚原因。",
        "要求查明原因，恢复发放补贴。",
        "{unit}经查询，因年审时户籍信息比对异常导致补贴暂停，现已完成信息更正，补贴已恢复发放并补发停发期间的款项。"),
    _en("民政", "养老服务", "estate", ("Care for my elderly neighbour",),
        "My neighbour in {estate_en}, {area_en} is over eighty and lives alone. Her children live abroad and she "
        "has fallen twice this month. Is there any home-care service or meal delivery for elderly people living "
        "alone?",
        "Arrange home care or regular visits for her.",
        "{unit} has registered your neighbour as an elderly person living alone; the community will visit her "
        "weekly and she now receives subsidised meal delivery and an emergency alarm."),

    _zh("党务政务", "政务服务", "road", ("办理营业执照来回跑多次", "政务服务窗口办事效率低"),
        "我准备在{area}开一家小餐馆，为了办营业执照和食品经营许可证，前后跑了{k}趟政务服务中心，每次窗口都说缺一样材料，"
        "从来不一次性告知。网上办理又总是提示系统错误。",
        "希望一次性告知所需材料，提高办事效率。",
        "{unit}已对相关窗口未落实一次性告知制度的问题进行通报批评，并安排专人协助您完成办理。餐饮类营业执照和食品经营许可现已可“一件事一次办”。"),
    _zh("党务政务", "政务服务", "road", ("12345转办后一直没有回音",),
        "我{months}个月前就通过12345反映过{road}路灯不亮的问题，当时说会转给相关部门处理，后来收到短信说已办结，"
        "但路灯到现在还是不亮，也没有人联系过我。",
        "希望核实办结情况，真正解决问题。",
        "{unit}经回访核实，前次工单存在未实际处理即申请办结的情况，已退回承办单位重新办理，路灯现已修复，并对承办单位进行了通报。"),
    _zh("党务政务", "建言献策", "road", ("建议政务服务中心周末开放",),
        "我们上班族工作日很难请假去办事，建议{district}政务服务中心周六上午开放部分常办业务，比如社保、公积金、不动产登记等，"
        "或者把工作日的办理时间延长到晚上七点。",
        "建议推行周末和延时服务。",
        "感谢您的建议。{unit}答复：区政务服务中心已于本月起推行周六上午“不打烊”服务，社保、公积金、不动产登记等高频事项均可办理。"),
    _en("党务政务", "政务服务", "road", ("English service at the service centre",),
        "I am a foreign resident in {area_en}. At the government service centre none of the staff could speak "
        "English and all the forms are only in Chinese. It took me three visits to register my small business.",
        "Provide English forms and an English-speaking member of staff.",
        "{unit} thanks you for the suggestion. The service centre has opened a window with English-speaking "
        "staff on weekdays and is preparing bilingual guides for common services."),

    _zh("经济管理", "市场监管", "road", ("{market}售卖过期食品",),
        "我{days}天前在{area}的{market}买了两盒牛奶，回家发现已经过期一个多星期了。去找店家，店家只愿意退钱，货架上同批次的还在卖。"
        "我拍了照片，也保留了购物小票。",
        "要求依法查处超市售卖过期食品的行为。",
        "{unit}执法人员已对{market}进行检查，现场查扣过期食品并依法立案处罚，责令其建立临期食品下架制度。按照食品安全法，您可以向经营者要求赔偿。"),
    _zh("经济管理", "市场监管", "road", ("停车场收费不明码标价",),
        "{area}{road}附近一个停车场，门口没有任何收费标准公示，停了两个小时收了{amt_xs}元，问收费依据，管理员说是老板定的。"
        "周边其他停车场一小时才五元。",
        "请核查停车场收费是否合规。",
        "{unit}检查发现该停车场未按规定明码标价，已责令其公示收费标准，并对其价格违法行为依法处罚。"),
    _zh("经济管理", "金融管理", "road", ("{co}投资公司涉嫌非法集资", "高息理财到期无法兑付"),
        "{area}有一家{co}投资公司，以年化百分之{pct}的高息吸引老年人购买“理财产品”，还组织免费旅游、发鸡蛋。"
        "我母亲投了{amt_l}元，现在到期了却拿不回本金，公司天天说在走流程。",
        "希望有关部门尽快介入，追回投资款。",
        "{unit}已将{co}投资公司涉嫌非法吸收公众存款的线索移送公安机关立案侦查，请投资人携带合同和转账凭证到辖区派出所登记。",
        group="投资人"),
    _en("经济管理", "市场监管", "road", ("Supermarket sold expired milk",),
        "{days} days ago I bought milk at {market_en} in {area_en}. It had expired more than a week earlier, and "
        "the shelf still held more from the same batch. The shop only offered a refund. I have photos and the "
        "receipt.",
        "Inspect the supermarket and penalise it.",
        "{unit} inspected {market_en}, seized the expired products and opened a penalty case. Under the Food "
        "Safety Law you may claim compensation from the shop."),

    _zh("纪检监察", "作风问题", "road", ("反映工作人员办事索要好处",),
        "我在{area}办理{errand}时，经办的工作人员说材料有问题办不了，私下暗示我“意思一下”就能通过。我没有给，结果一拖就是{months}个月。",
        "要求纪检部门调查处理。",
        "{unit}已对反映的问题进行核实，相关工作人员存在刁难群众、吃拿卡要问题，已给予诫勉谈话并调离岗位，您的业务已安排专人办理。"),
    _zh("纪检监察", "作风问题", "road", ("举报公车私用",),
        "最近几个周末，我多次在{area}的{spot}看到一辆喷有单位标识的公务用车，车牌号湘A{plate}，一停就是好几个小时，"
        "车上下来的人带着钓鱼竿和孩子，明显是办私事。",
        "请核查是否存在公车私用问题。",
        "{unit}调取了该车辆的使用记录和定位信息，核实存在周末公车私用问题，已对相关责任人给予党纪处分并通报。"),
    _en("纪检监察", "作风问题", "road", ("An official asked me for money",),
        "When I applied to renew my business licence in {area_en}, the official handling it said my papers were "
        "incomplete and hinted that a 'small gift' would solve the problem. I refused, and my application has "
        "been stuck for {months} months.",
        "Investigate the official and process my application.",
        "{unit} looked into the complaint. The official concerned has been removed from the counter and "
        "disciplined, and your application has been processed."),

    _zh("国土资源", "土地管理", "rural", ("宅基地界址纠纷", "邻居建房占用我家宅基地"),
        "我家在{area}{village}有一块宅基地，有合法的使用证。邻居今年翻建房子，把围墙往我家这边砌了将近{k}米，占了我家的地。"
        "村里调解过两次没有结果，对方还在继续施工。",
        "请求依法确认界址，制止侵占行为。",
        "{unit}会同镇自然资源所、村委会现场勘测，依据原宅基地使用证确定了界址，已责令邻居停止施工并拆除越界部分围墙，双方已签订调解协议。",
        weight=2),
    _zh("国土资源", "土地管理", "rural", ("征地补偿标准过低", "征地补偿依据不公开"),
        "{area}{village}因修建{project}征收了我们组的土地和房屋，给出的补偿标准比旁边村子低很多，安置房的位置和面积也没有确定。"
        "征收公告没有在村里张贴，大家都不清楚依据是什么。",
        "要求公开征收依据和补偿标准，合理补偿。",
        "{unit}答复：该项目征收补偿按全市统一的区片综合地价执行，已督促镇政府在村务公开栏补充公示征收批复和补偿方案，并逐户解释。",
        group="被征地村民"),
    _zh("国土资源", "土地管理", "rural", ("举报占用耕地建厂房",),
        "{area}{village}附近有人在基本农田上搭建钢架厂房，已经硬化了{k}亩左右的耕地，晚上还在加班施工。村民反映过好几次，没有人来管。",
        "请依法查处违法占用耕地行为。",
        "{unit}经现场核查，该地块属于永久基本农田，建设行为未经批准，已立案查处，责令停止施工、拆除建筑并恢复耕种条件。"),
    _en("国土资源", "土地管理", "rural", ("Compensation for land expropriation",),
        "My wife's family lives in a village in {area_en}. Their farmland and house are being expropriated for "
        "{project_en}, but the compensation offered is much lower than in the next village and nobody has "
        "explained how it was calculated.",
        "Publish the compensation standard and explain the calculation.",
        "{unit} replies: compensation follows the city's uniform regional land price. The town government has "
        "posted the approval and compensation plan in the village and will explain it to each household.",
        group="villagers"),

    _zh("科技与信息产业", "通信服务", "estate", ("{estate}手机信号差", "小区地下车库没有信号"),
        "{area}{estate}入住已经{k}年了，手机信号一直很差，在家打电话要跑到阳台上，地下车库完全没有信号。问过运营商，说小区物业不同意安装基站。",
        "希望协调运营商和物业，改善小区信号覆盖。",
        "{unit}已协调通信运营商和{estate}物业，在小区内增设室内分布系统和小型基站，目前室内和地下车库信号已明显改善。",
        group="本小区住户"),
    _zh("科技与信息产业", "网络与信息安全", "road", ("每天接到大量骚扰电话", "个人信息疑似被泄露"),
        "我{days}天前在{area}看了一个楼盘，在售楼处登记了手机号，之后每天都要接到十几个卖房、贷款、装修的电话，有些还能叫出我的名字，"
        "严重影响工作和生活。",
        "要求查处泄露个人信息的行为。",
        "{unit}已将相关号码提交通信运营商核查处置，并将售楼处涉嫌泄露个人信息的线索移送网信和公安部门调查。"),
    _zh("科技与信息产业", "通信服务", "estate", ("宽带报装很久没人上门安装",),
        "我在{area}{estate}新买了房子，{days}天前在营业厅办理宽带，当时说三天内上门安装，到现在还没人来，"
        "打客服电话只说在排期，我在家办公很受影响。",
        "希望尽快上门安装宽带。",
        "{unit}已督促运营商排查，因小区光纤资源未及时扩容导致延误，现已完成扩容并为您上门安装开通。"),
    _en("科技与信息产业", "通信服务", "estate", ("No mobile signal in our building",),
        "There is almost no mobile signal inside Building {bld} of {estate_en}, {area_en}, and none at all in the "
        "underground car park. I work from home and keep losing calls. The operator blames the property company.",
        "Help improve mobile coverage in our estate.",
        "{unit} brought the operator and the property company together; an indoor signal system is being "
        "installed in {estate_en} and its car park."),
    _en("科技与信息产业", "网络与信息安全", "road", ("Spam calls after registering my phone",),
        "Since I left my phone number at a property sales office in {area_en} {days} days ago, I get more than ten "
        "calls a day from estate agents and loan companies, and some of them know my name.",
        "Stop the calls and investigate the data leak.",
        "{unit} asked the operators to block the numbers and passed the suspected data leak to the cyberspace "
        "and police authorities."),
)

# Shares of petitions: urban construction, labour and education lead, as on real message boards.
_CATEGORY_WEIGHTS = {
    "城乡建设": 22, "环境保护": 9, "交通运输": 8, "教育文体": 12, "劳动和社会保障": 14, "商贸旅游": 6,
    "卫生计生": 6, "农村农业": 4, "政法": 5, "民政": 5, "党务政务": 3, "经济管理": 4, "纪检监察": 2,
    "国土资源": 4, "科技与信息产业": 3,
}
_CHANNEL_WEIGHTS = {"webchat": 18, "wechat": 24, "sms": 8, "phone": 32, "walk_in": 10, "letter": 8}
_STATUS_WEIGHTS = {"registered": 7, "accepted": 8, "not_accepted": 5, "forwarded": 5, "assigned": 8,
                   "in_progress": 14, "replied": 12, "closed": 25, "review_requested": 5, "final": 6,
                   "withdrawn": 5}
# How far along the statutory loop each status lies; older petitions get the later ones.
_PROGRESS = {"registered": 0, "accepted": 1, "not_accepted": 1.2, "forwarded": 1.4, "assigned": 2,
             "in_progress": 3, "withdrawn": 3.5, "replied": 4, "closed": 5, "review_requested": 5.5, "final": 6}

_PREFIXES = (("金桂", "Jingui"), ("枫林", "Fenglin"), ("润和", "Runhe"), ("翠湖", "Cuihu"), ("星河", "Xinghe"),
             ("书香", "Shuxiang"), ("锦绣", "Jinxiu"), ("云栖", "Yunqi"), ("丽景", "Lijing"), ("和馨", "Hexin"),
             ("阳光", "Yangguang"), ("湘江", "Xiangjiang"), ("芷兰", "Zhilan"), ("银杉", "Yinshan"))
_ESTATE_SUFFIXES = (("雅苑", "Court"), ("华庭", "Garden"), ("家园", "Homes"), ("新城", "New Town"),
                    ("花园", "Gardens"), ("名居", "Residence"), ("公馆", "Mansion"), ("小区", "Estate"))
_ROAD_STEMS = (("桂花", "Guihua"), ("青松", "Qingsong"), ("兴业", "Xingye"), ("望江", "Wangjiang"),
               ("长兴", "Changxing"), ("银杏", "Yinxing"), ("学府", "Xuefu"), ("丰泽", "Fengze"),
               ("和顺", "Heshun"), ("振华", "Zhenhua"), ("文昌", "Wenchang"), ("新安", "Xin'an"))
_ROAD_SUFFIXES = (("路", "Road"), ("大道", "Avenue"), ("街", "Street"))
_COMPANIES = (("恒远", "Hengyuan"), ("鑫达", "Xinda"), ("德信", "Dexin"), ("华瑞", "Huarui"), ("宏盛", "Hongsheng"),
              ("众诚", "Zhongcheng"), ("博远", "Boyuan"), ("金鼎", "Jinding"), ("瑞丰", "Ruifeng"),
              ("天成", "Tiancheng"))
_RESTAURANTS = (("湘菜馆", "Hunan restaurant"), ("烧烤店", "barbecue restaurant"),
                ("小龙虾店", "crayfish restaurant"), ("米粉店", "noodle shop"))
_PROJECTS = (("产业园道路", "an industrial park road"), ("物流园区", "a logistics park"), ("市政道路", "a new road"),
             ("安置小区", "a resettlement estate"))
_NIGHT = (("每天晚上十点以后", "every night after 10 pm"), ("凌晨一两点", "until one or two in the morning"),
          ("每天夜里十一点到凌晨三点", "from 11 pm to 3 am"), ("周末一大早六点", "from 6 am at weekends"))
_FACTORIES = ("洗车场", "小作坊", "建材厂", "食品加工厂", "家具厂", "机械加工厂", "包装厂")
_APPLIANCES = ("冰箱", "洗衣机", "空调", "热水器")
_ERRANDS = ("房屋翻建审批", "个体户年检", "残疾证换证", "困难补助申请")
_SPOTS = ("农家乐门口", "景区停车场", "钓鱼场", "商场停车场")
_GRADES = ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级")
# Plates skip I and O, which would read as 1 and 0.
_PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")

_OPENERS_ZH = ("", "", "您好，", "领导您好，", "你好，我想反映一个问题。", "12345您好，")
_CLOSERS_ZH = ("", "恳请有关部门尽快处理。", "希望相关部门重视，尽快给个答复。", "已经多次反映，问题一直没有解决，请尽快处理！",
               "谢谢！")
_OPENERS_EN = ("", "", "Hello. ", "Good day. ", "Hi, I need some help. ")
_CLOSERS_EN = ("", " Please look into this.", " Thank you.", " I hope someone can help.",
               " I have complained before and nothing has changed.")

_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭",
             "罗", "梁", "宋", "谢", "唐", "彭", "曾", "邓", "谭", "易", "肖", "欧阳")
_GIVEN = ("建国", "秀英", "志强", "丽华", "海燕", "伟", "芳", "军", "敏", "静", "国平", "桂兰", "文斌", "小红", "卫东",
          "玉梅", "春生", "德明", "晓燕", "子豪", "雨欣", "浩然", "思远", "佳怡", "红梅", "建华", "利民", "翠兰", "湘平",
          "岳林")
_FIRST_EN = ("James", "Emma", "Oliver", "Sophie", "Daniel", "Maria", "Ahmed", "Anna", "Lucas", "Fatima", "David",
             "Chloe", "Kwame", "Yuki", "Ivan", "Grace")
_LAST_EN = ("Smith", "Johnson", "Brown", "Müller", "Garcia", "Rossi", "Khan", "Petrov", "Mensah", "Nguyen",
            "Wilson", "Taylor", "Dubois", "Kim")
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                    "155", "156", "157", "158", "159", "180", "181", "182", "183", "185", "186", "187", "188", "189")
# Petitions by day-time hour for the always-open channels: quiet at night, peaks mid-morning and evening.
_HOURLY = (1, 1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 6, 7, 8, 8, 7, 6, 6, 7, 7, 6, 4, 2)


def _allocate(rng: random.Random, weights: dict[str, float], n: int) -> list[str]:
    # Fixed quotas (largest remainder, at least one of each when n allows) instead of independent draws,
    # so that every value appears in every demo, whatever the seed.
    total = sum(weights.values())
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    if n >= len(weights):
        counts = {k: max(c, 1) for k, c in counts.items()}
    while sum(counts.values()) < n:
        counts[max(exact, key=lambda k: exact[k] - counts[k])] += 1
    while sum(counts.values()) > n:
        counts[max((k for k in counts if counts[k] > 1), key=lambda k: counts[k] - exact[k])] -= 1
    items = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(items)
    return items


def _months_before(moment: datetime, months: int) -> tuple[int, int]:
    index = moment.year * 12 + moment.month - 1 - months
    return index // 12, index % 12 + 1


def _pick_area(rng: random.Random, template: _Template) -> tuple[dict, dict | None, str | None]:
    areas = _changsha_tree()[0]
    districts = [a for a in areas if a["level"] == "district"]
    by_name = {d["name"]: d for d in districts}
    english = template.language == "en"
    if template.place == "rural":
        towns = [a for a in areas if a["level"] == "street" and a["name"].endswith(("镇", "乡"))]
        if english:
            towns = [t for t in towns if (_district_of(t)["name"], t["name"]) in _STREET_EN]
        town = rng.choice(towns)
        villages = _changsha_tree()[1].get(town["code"]) or ("新华村",)
        return _district_of(town), town, rng.choice(villages)
    district = by_name[rng.choices(list(_DISTRICT_WEIGHTS), weights=list(_DISTRICT_WEIGHTS.values()))[0]]
    if rng.random() < 0.3:
        return district, None, None
    streets = [a for a in areas if a["parent_code"] == district["code"] and not a["name"].endswith(("镇", "乡"))]
    if english:
        streets = [s for s in streets if (district["name"], s["name"]) in _STREET_EN]
    return district, (rng.choice(streets) if streets else None), None


def _district_of(area: dict) -> dict:
    return _area_index()[area["parent_code"]] if area["level"] == "street" else area


def _pair(rng: random.Random, first: tuple, second: tuple) -> tuple[str, str]:
    a, b = rng.choice(first), rng.choice(second)
    return a[0] + b[0], f"{a[1]} {b[1]}"


def _slots(rng: random.Random, district: dict, street: dict | None, village: str | None,
           received: datetime) -> dict[str, object]:
    months = rng.randint(2, 8)
    since_year, since_month = _months_before(received, months)
    estate, estate_en = _pair(rng, _PREFIXES, _ESTATE_SUFFIXES)
    road, road_en = _pair(rng, _ROAD_STEMS, _ROAD_SUFFIXES)
    road2, road2_en = _pair(rng, _ROAD_STEMS, _ROAD_SUFFIXES)
    co, co_en = rng.choice(_COMPANIES)
    fee_old = rng.randint(10, 22) / 10
    night, night_en = rng.choice(_NIGHT)
    restaurant, restaurant_en = rng.choice(_RESTAURANTS)
    project, project_en = rng.choice(_PROJECTS)
    street_name = street["name"] if street else ""
    street_en = _STREET_EN.get((district["name"], street_name)) if street else None
    school, hospital, gym, market, store, training = (rng.choice(_PREFIXES) for _ in range(6))
    hospital_kind = rng.choice(("医院", "康复医院", "骨科医院", "中西医结合医院"))
    return {
        "district": district["name"], "area": district["name"] + street_name,
        "district_en": _DISTRICT_EN[district["name"]],
        "area_en": f"{street_en}, {_DISTRICT_EN[district['name']]}" if street_en else _DISTRICT_EN[district["name"]],
        "estate": estate, "estate_en": estate_en, "road": road, "road_en": road_en,
        "road2": road2 if road2 != road else road2 + "支路", "road2_en": road2_en,
        "village": village or "", "bld": rng.randint(1, 24), "co": co, "co_en": co_en,
        "school": school[0] + rng.choice(("实验小学", "小学", "第一小学")), "grade": rng.choice(_GRADES),
        "hospital": hospital[0] + hospital_kind, "hospital_en": f"{hospital[1]} Hospital",
        "gym": gym[0] + "健身", "gym_en": f"{gym[1]} Fitness",
        "market": market[0] + rng.choice(("超市", "便利店", "生鲜超市")), "market_en": f"{market[1]} Supermarket",
        "store": store[0] + "家电城", "training": training[0] + rng.choice(("教育", "学堂", "艺术培训学校")),
        "restaurant": restaurant, "restaurant_en": restaurant_en, "project": project, "project_en": project_en,
        "factory": rng.choice(_FACTORIES), "appliance": rng.choice(_APPLIANCES), "errand": rng.choice(_ERRANDS),
        "spot": rng.choice(_SPOTS), "time": night, "time_en": night_en,
        "months": months, "days": rng.randint(3, 20), "k": rng.randint(2, 9), "age": rng.randint(45, 66),
        "since": f"{since_year}年{since_month}月", "since_en": f"{_MONTHS_EN[since_month - 1]} {since_year}",
        "fee_old": f"{fee_old:.1f}", "fee_new": f"{fee_old + rng.randint(3, 12) / 10:.1f}",
        "amt_xs": rng.randrange(15, 90, 5), "amt_s": rng.randrange(80, 900, 10),
        "amt_card": rng.randrange(1200, 6800, 100),
        "amt_m": rng.randrange(3000, 48000, 100), "amt_l": rng.randrange(30000, 300000, 1000),
        "amt_rent": rng.randrange(400, 950, 50), "pct": rng.randint(12, 24), "sqm": rng.randint(15, 80),
        "bus": rng.randint(2, 460), "plate": "".join(rng.choice(_PLATE_CHARS) for _ in range(5)),
        "reply_days": rng.randint(3, 15),
    }


def _address(rng: random.Random, template: _Template, slots: dict, district: dict, street: dict | None) -> str:
    street_name = street["name"] if street else ""
    if template.place == "rural":
        return f"{district['name']}{street_name}{slots['village']}{rng.randint(1, 12)}组"
    number = rng.randint(1, 388)
    if template.language == "en":
        if template.place == "estate":
            return f"Building {slots['bld']}, {slots['estate_en']}, {slots['area_en']}, Changsha"
        return f"No. {number} {slots['road_en']}, {slots['area_en']}, Changsha"
    if template.place == "estate":
        return f"{district['name']}{street_name}{slots['estate']}{slots['bld']}栋"
    return f"{district['name']}{street_name}{slots['road']}{number}号"


def _id_number(rng: random.Random, now: datetime) -> str:
    districts = [a["code"] for a in _changsha_tree()[0] if a["level"] == "district"]
    birth = now.date() - timedelta(days=rng.randint(20 * 365, 78 * 365))
    id17 = f"{rng.choice(districts)}{birth:%Y%m%d}{rng.randint(1, 999):03d}"
    return id17 + valid_id_checksum(id17)


def _petitioner(rng: random.Random, language: str, anonymous: bool, channel: str, now: datetime) -> dict:
    if anonymous:
        return {"name": None, "phone": None, "id_number": None}
    if language == "en":
        name = f"{rng.choice(_FIRST_EN)} {rng.choice(_LAST_EN)}"
    else:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
    phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"
    # Walk-in and letter petitions are registered against an ID card far more often than online ones.
    id_share = 0.8 if channel in ("walk_in", "letter") else 0.3
    id_number = _id_number(rng, now) if language == "zh" and rng.random() < id_share else None
    return {"name": name, "phone": phone, "id_number": id_number}


def _received_at(rng: random.Random, channel: str, now: datetime) -> datetime:
    office_hours = channel in ("walk_in", "letter")
    day = (now - timedelta(days=rng.uniform(0.3, WINDOW_DAYS - 4))).date()
    while office_hours and day.weekday() >= 5:
        day -= timedelta(days=1)
    hour = rng.randint(8, 16) if office_hours else rng.choices(range(24), weights=_HOURLY)[0]
    moment = datetime.combine(day, time(hour, rng.randint(0, 59), rng.randint(0, 59)), tzinfo=SHANGHAI)
    while moment > now or (office_hours and moment.weekday() >= 5):
        moment -= timedelta(days=1)
    return moment


def _head_sentence(template: _Template, head_count: int, channel: str) -> str:
    if head_count == 1:
        return ""
    if template.language == "en":
        if head_count >= 5:
            if channel == "walk_in":
                return f" {head_count} of us {template.group} came to the reception office together today."
            return f" {head_count} {template.group} are affected and asked me to write on behalf of all of us."
        return f" There are {head_count} of us raising this together."
    group = template.group or "家人"
    if head_count >= 5:
        if channel == "walk_in":
            return f"今天我们{head_count}名{group}一起来到信访接待大厅反映。"
        return f"此事涉及{group}共{head_count}人，大家推选我作为代表反映。"
    return f"和我一起反映的还有{head_count - 1}位{group}。"


def _compose(rng: random.Random, template: _Template, slots: dict, head: str) -> str:
    body = template.body.format_map(slots)
    zh = template.language == "zh"
    opener = rng.choice(_OPENERS_ZH if zh else _OPENERS_EN)
    closer = rng.choice(_CLOSERS_ZH if zh else _CLOSERS_EN)
    # Pleasantries go first when a story runs long: the content limit is 400 characters.
    for parts in ((opener, body, head, closer), (opener, body, head, ""), ("", body, head, ""), ("", body, "", "")):
        text = "".join(parts)
        if len(text) <= 400:
            return text
    return text[:400]


def demo_petitions(n: int = 200, seed: int = 7, *, now: datetime) -> list[dict]:
    """Generate ``n`` reproducible demo petitions received in the ~120 days before ``now``, oldest first."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(SHANGHAI)
    rng = random.Random(seed)
    categories = _allocate(rng, _CATEGORY_WEIGHTS, n)
    languages = _allocate(rng, {"zh": 3, "en": 1}, n)
    channels = _allocate(rng, _CHANNEL_WEIGHTS, n)
    statuses = sorted(_allocate(rng, _STATUS_WEIGHTS, n), key=_PROGRESS.__getitem__)

    pool = {(t.category, t.language): [] for t in _TEMPLATES}
    for t in _TEMPLATES:
        pool[(t.category, t.language)].append(t)
    collective_ok = [i for i in range(n) if any(t.group for t in pool[(categories[i], languages[i])])]
    collective = set(rng.sample(collective_ok, min(round(n * 0.05), len(collective_ok))))
    singles = [i for i in range(n) if i not in collective]
    small_groups = set(rng.sample(singles, round(n * 0.12)))
    anonymous = set(rng.sample(singles, round(n * 0.15)))
    # Collective petitions mostly arrive as a group visit: swap walk-in slots onto them.
    walk_ins = [i for i in range(n) if channels[i] == "walk_in" and i not in collective]
    for i in sorted(collective):
        if channels[i] != "walk_in" and walk_ins and rng.random() < 0.7:
            j = walk_ins.pop()
            channels[i], channels[j] = channels[j], channels[i]

    received = [_received_at(rng, channels[i], now) for i in range(n)]
    # Youngest first (with a little noise) meets the least advanced status first.
    by_age = sorted(range(n), key=lambda i: (now - received[i]).total_seconds() / 86400 / WINDOW_DAYS
                    + rng.gauss(0, 0.05))
    status_of = {i: statuses[rank] for rank, i in enumerate(by_age)}

    petitions = []
    for i in range(n):
        options = [t for t in pool[(categories[i], languages[i])] if i not in collective or t.group]
        template = rng.choices(options, weights=[t.weight for t in options])[0]
        district, street, village = _pick_area(rng, template)
        area = street or district
        slots = _slots(rng, district, street, village, received[i])
        unit = _suggest_unit(template.category, template.subcategory, area["code"])
        slots["unit"] = unit["name"] if template.language == "zh" else unit["name_en"]
        if i in collective:
            head_count = 5 + int(rng.random() ** 2 * 75)
        elif i in small_groups:
            head_count = rng.randint(2, 4)
        else:
            head_count = 1
        status = status_of[i]
        petitions.append({
            "title": rng.choice(template.titles).format_map(slots),
            "content": _compose(rng, template, slots, _head_sentence(template, head_count, channels[i])),
            "category": template.category,
            "subcategory": template.subcategory,
            "area_code": area["code"],
            "address": _address(rng, template, slots, district, street),
            "channel": channels[i],
            "received_at": received[i],
            "head_count": head_count,
            "demand": template.demand.format_map(slots),
            "language": template.language,
            "petitioner": _petitioner(rng, template.language, i in anonymous, channels[i], now),
            "target_status": status,
            "reply_text": template.reply.format_map(slots) if status in REPLIED_STATUSES else None,
            "suggested_unit_code": unit["code"],
        })
    petitions.sort(key=lambda p: p["received_at"])
    return petitions
