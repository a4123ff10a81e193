"""Region codes inside invoice codes and 数电 numbers (GB/T 2260 province level)."""

from __future__ import annotations

BEIJING = "11"

# Province-level prefixes, with (zh, en) names.
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京", "Beijing"), "12": ("天津", "Tianjin"), "13": ("河北", "Hebei"),
    "14": ("山西", "Shanxi"), "15": ("内蒙古", "Inner Mongolia"), "21": ("辽宁", "Liaoning"),
    "22": ("吉林", "Jilin"), "23": ("黑龙江", "Heilongjiang"), "31": ("上海", "Shanghai"),
    "32": ("江苏", "Jiangsu"), "33": ("浙江", "Zhejiang"), "34": ("安徽", "Anhui"),
    "35": ("福建", "Fujian"), "36": ("江西", "Jiangxi"), "37": ("山东", "Shandong"),
    "41": ("河南", "Henan"), "42": ("湖北", "Hubei"), "43": ("湖南", "Hunan"),
    "44": ("广东", "Guangdong"), "45": ("广西", "Guangxi"), "46": ("海南", "Hainan"),
    "50": ("重庆", "Chongqing"), "51": ("四川", "Sichuan"), "52": ("贵州", "Guizhou"),
    "53": ("云南", "Yunnan"), "54": ("西藏", "Tibet"), "61": ("陕西", "Shaanxi"),
    "62": ("甘肃", "Gansu"), "63": ("青海", "Qinghai"), "64": ("宁夏", "Ningxia"),
    "65": ("新疆", "Xinjiang"),
}

# Cities with their own tax bureau (计划单列市), 4-digit prefixes used in invoice codes.
CITIES: dict[str, tuple[str, str]] = {
    "2102": ("大连", "Dalian"), "3302": ("宁波", "Ningbo"), "3502": ("厦门", "Xiamen"),
    "3702": ("青岛", "Qingdao"), "4403": ("深圳", "Shenzhen"),
}


def region_of(code: str | None, number: str | None) -> str | None:
    """The 4-digit (or 2-digit) region prefix an invoice's identifiers carry, if any."""
    if number and len(number) == 20:
        return number[2:4]
    if code and len(code) == 12:
        return code[1:5]
    if code and len(code) == 10:
        return code[0:4]
    return None


def is_beijing(region: str | None) -> bool:
    return region is None or region[:2] == BEIJING


def region_names(region: str) -> tuple[str, str]:
    """(zh, en) name of a region prefix; unknown prefixes are shown as digits."""
    if region in CITIES:
        return CITIES[region]
    if region[:2] in PROVINCES:
        return PROVINCES[region[:2]]
    return (f"地区代码 {region}", f"region code {region}")
