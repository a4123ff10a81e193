"""Amounts as merchants write them, found inside longer text with their spans: 大写 (伍佰捌拾元整,
壹仟贰佰叁拾肆元伍角陆分), Chinese numerals (三百五十元), 块/毛/分 (5块5), thousands separators and
currency marks (¥, 元, RMB, CNY).

The text given here is already normalised (`identifiers.normalise_text`: ￥ is ¥), with letters typed
for digits already replaced by the caller. An amount is handed over as an Arabic figure ("580", "5.5"),
for `identifiers.validate_money` to check like any other."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal

import cn2an

logger = logging.getLogger(__name__)

_CN_DIGIT = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖"
_CN_NUMBER = _CN_DIGIT + "十百千万亿拾佰仟"
_DAXIE_DIGIT = "壹贰叁肆伍陆柒捌玖"  # written only in amounts: a run with them is money even without 元
_CN_VALUES = {char: index for index, char in enumerate("零一二三四五六七八九")}
_CN_VALUES.update({"〇": 0, "两": 2, **{char: index + 1 for index, char in enumerate("壹贰叁肆伍陆柒捌玖")}})
_CN_CENTS = rf"(?:[零〇]?(?P<jiao>[{_CN_DIGIT}])\s*[角毛])?(?:[零〇]?(?P<fen>[{_CN_DIGIT}])\s*分)?"
# Each pattern starts only where a run of numerals starts, and never gives a run back (possessive): a long run
# costs one look, not one per character or per way of cutting it.
_CHINESE = [
    re.compile(rf"(?<![{_CN_NUMBER}])(?P<int>[{_CN_NUMBER}]++)\s*[元圆块]{_CN_CENTS}(?:\s*[整正])?"),
    re.compile(rf"(?<![{_CN_NUMBER}])(?:(?P<jiao>[{_CN_DIGIT}])\s*[角毛])(?:[零〇]?(?P<fen>[{_CN_DIGIT}])\s*分)?"
               rf"(?:\s*[整正])?"),
    re.compile(rf"(?<![{_CN_NUMBER}])(?=[{_CN_NUMBER}]*?[{_DAXIE_DIGIT}])(?P<int>[{_CN_NUMBER}]++)"
               rf"(?!\s*[元圆块角毛分])(?:\s*[整正])?"),
    re.compile(rf"(?<![{_CN_NUMBER}])[零〇]?(?P<fen>[壹贰叁肆伍陆柒捌玖])\s*分(?:\s*[整正])?"),  # 伍分: 大写 only
]
_FIGURE = r"(?P<n>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_NOT_AFTER = r"(?<![\d.,])"
_CENTS = r"(?:(?P<jiao>\d)(?:\s*[毛角])?(?:(?P<fen>\d)(?:\s*分)?)?(?!\d))?"
_MARKED = [
    re.compile(rf"(?:¥|(?<![A-Za-z])(?:RMB|CNY)(?![A-Za-z]))\s*{_FIGURE}(?:\s*[元块圆])?", re.IGNORECASE),
    re.compile(rf"{_NOT_AFTER}{_FIGURE}\s*[元块圆]{_CENTS}(?:\s*[整正])?"),
    re.compile(rf"{_NOT_AFTER}{_FIGURE}\s*(?:rmb|cny|yuan)(?![A-Za-z])", re.IGNORECASE),
    re.compile(rf"{_NOT_AFTER}(?P<jiao>\d)\s*[毛角](?:(?P<fen>\d)\s*分?)?"),
]
# 玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖 (under a trillion) has 23; longer is no amount.
_LONGEST_NUMERAL = 32
_TEN_AFTER_ZERO = re.compile(r"([零〇])([拾十])")
_PLAIN = re.compile(rf"{_NOT_AFTER}{_FIGURE}(?!\d)")


@dataclass(frozen=True)
class TypedAmount:
    """One amount found in typed text."""

    start: int
    end: int
    figure: str | None  # as Arabic digits ("580", "1234.56"); None when Chinese numerals could not be read
    chinese: bool  # written in Chinese numerals (大写 or not): compared with the figures of the same message
    marked: bool  # carries a currency mark or a unit (¥, 元, 块, 毛, RMB, CNY) or is Chinese


def find_amounts(text: str) -> list[TypedAmount]:
    """Every amount in `text` that shows it is money (a mark, a unit, 大写), in order, none overlapping."""
    found = [_typed(match, chinese=True) for pattern in _CHINESE for match in pattern.finditer(text)
             if _money_shaped(match.group(0))]
    found += [_typed(match, chinese=False) for pattern in _MARKED for match in pattern.finditer(text)]
    found.sort(key=lambda amount: (amount.start, amount.start - amount.end))
    chosen: list[TypedAmount] = []
    for amount in found:
        if not chosen or amount.start >= chosen[-1].end:
            chosen.append(amount)
    return chosen


def _money_shaped(text: str) -> bool:
    """Chinese numerals that are money: with 元/角/分, or two or more with a 大写 digit (伍佰; not 伍 alone,
    a surname, nor 拾, a verb)."""
    return bool(re.search("[元圆块角毛分]", text)) or len(text.strip("整正 ")) >= 2


# Where an amount is expected (after its label, or answering for it): Chinese numerals with a unit of ten or
# more and no 元 (两千, 三百五十, 一千一) are an amount too.
_CHINESE_EXPECTED = re.compile(rf"(?=[{_CN_NUMBER}]*?[十百千万拾佰仟])(?P<int>[{_CN_NUMBER}]++)(?:\s*[整正])?")


def amount_at(text: str) -> TypedAmount | None:
    """The longest amount at the very start of `text`, a plain figure included."""
    found = [_typed(match, chinese=True) for pattern in _CHINESE if (match := pattern.match(text))
             and _money_shaped(match.group(0))]
    if match := _CHINESE_EXPECTED.match(text):
        found.append(_typed(match, chinese=True))
    found += [_typed(match, chinese=False) for pattern in _MARKED if (match := pattern.match(text))]
    if match := _PLAIN.match(text):
        found.append(TypedAmount(match.start(), match.end(), match.group("n").replace(",", ""), False, False))
    return max(found, key=lambda amount: amount.end, default=None)


def whole_amount(text: str) -> TypedAmount | None:
    """The amount `text` is, when it is nothing but an amount."""
    stripped = text.strip()
    amount = amount_at(stripped)
    return amount if amount is not None and amount.end == len(stripped) else None


def _typed(match: re.Match[str], *, chinese: bool) -> TypedAmount:
    groups = match.groupdict()
    if chinese:
        figure = chinese_figure(groups.get("int") or "", groups.get("jiao"), groups.get("fen"))
        return TypedAmount(match.start(), match.end(), figure, True, True)
    whole = (groups.get("n") or "0").replace(",", "")
    cents = (groups.get("jiao") or "") + (groups.get("fen") or "")
    if cents and "." in whole:
        return TypedAmount(match.start(), match.end(), None, False, True)  # 5.5块5: no amount
    return TypedAmount(match.start(), match.end(), f"{whole}.{cents}" if cents else whole, False, True)


def chinese_figure(integer: str, jiao: str | None = None, fen: str | None = None) -> str | None:
    """An amount in Chinese numerals (叁万 + 伍角 + 陆分) as an exact Arabic figure, or None if unreadable."""
    whole = chinese_integer(integer) if integer else 0
    if whole is None:
        return None
    cents = _CN_VALUES[jiao] * 10 if jiao else 0
    cents += _CN_VALUES[fen] if fen else 0
    return str(Decimal(whole) + Decimal(cents) / 100) if cents else str(whole)


def chinese_integer(text: str) -> int | None:
    """A whole number in Chinese numerals, 大写 or not (叁万, 壹仟零伍, 三百五十), read by cn2an; None if unreadable
    or beyond any invoice (a trillion yuan)."""
    if len(text) > _LONGEST_NUMERAL:
        return None
    text = _TEN_AFTER_ZERO.sub(r"\1壹\2", text)  # 壹仟零拾 is written for 壹仟零壹拾
    try:
        value = cn2an.cn2an(text, "normal")
    except Exception as error:  # noqa: BLE001 - a third-party parser: anything it raises means "not a number"
        logger.debug("not a Chinese number %r: %s", text, error)
        return None
    return value if isinstance(value, int) and 0 <= value < 10**12 else None
