"""Table tests of amounts as merchants write them: 大写, Chinese numerals, 块/毛/分, marks and separators."""

from __future__ import annotations

import pytest

from assistant.domain.amounts import chinese_figure, chinese_integer, find_amounts, whole_amount


@pytest.mark.parametrize(("text", "figure"), [
    ("伍佰捌拾元整", "580"),
    ("叁万元整", "30000"),  # exact, unlike 3万 (a round figure, asked for exactly)
    ("壹仟贰佰叁拾肆元伍角陆分", "1234.56"),
    ("壹仟零伍元", "1005"),
    ("壹万零贰拾元整", "10020"),
    ("壹拾万零伍佰元整", "100500"),
    ("壹佰元零伍分", "100.05"),
    ("壹仟零拾元", "1010"),
    ("拾元", "10"),
    ("壹佰壹拾叁圆整", "113"),
    ("伍佰捌拾", "580"),  # 大写 digits are written only in amounts, 元 or not
    ("伍角", "0.5"),
    ("伍分", "0.05"),
    ("零伍分", "0.05"),
    ("五毛", "0.5"),
    ("三百五十元", "350"),
    ("两千元", "2000"),
    ("1130块", "1130"),
    ("5块5", "5.5"),
    ("5块5毛", "5.5"),
    ("5块5毛3分", "5.53"),
    ("5元5角", "5.5"),
    ("¥1,234.50", "1234.50"),
    ("¥ 88 元", "88"),
    ("RMB 1234", "1234"),
    ("CNY1,000", "1000"),
    ("1234.5 元", "1234.5"),
    ("88 yuan", "88"),
    ("580元整", "580"),
    ("580", "580"),  # a plain figure is an amount only where one is expected
    ("1,000.5", "1000.5"),
])
def test_whole_amount(text: str, figure: str) -> None:
    amount = whole_amount(text)
    assert amount is not None and amount.figure == figure


@pytest.mark.parametrize(("text", "chinese"), [("伍佰捌拾元整", True), ("三百五十元", True), ("¥580", False),
                                               ("580块", False)])
def test_chinese_or_figures(text: str, chinese: bool) -> None:
    amount = whole_amount(text)
    assert amount is not None and amount.chinese is chinese and amount.marked


@pytest.mark.parametrize(("text", "found"), [
    ("价税合计(大写):ⓧ壹佰壹拾叁圆整 (小写)¥113.00", ["壹佰壹拾叁圆整", "¥113.00"]),
    ("数电票 2026-05-20 2260元 12345678", ["2260元"]),
    ("一共1130块，另外5块5", ["1130块", "5块5"]),
    ("RMB 88 and 99 CNY", ["RMB 88", "99 CNY"]),
    # not amounts: no mark, or Chinese numerals that are not money
    ("号码 12345678 日期 20250601", []),
    ("100.00", []),
    ("十五号", []),
    ("两张发票", []),
    ("100美元", []),
    ("一万", []),
    ("拾壹分", []),  # no amount is written so
])
def test_found_in_text(text: str, found: list[str]) -> None:
    assert [text[amount.start:amount.end] for amount in find_amounts(text)] == found


@pytest.mark.parametrize("text", ["壹佰佰元", "壹佰佰"])
def test_unreadable_chinese_is_no_figure(text: str) -> None:
    amount = whole_amount(text)
    assert amount is not None and amount.figure is None


@pytest.mark.parametrize(("text", "value"), [("叁万", 30000), ("壹仟零伍", 1005), ("三百五十", 350), ("零", 0),
                                             ("佰佰", None), ("abc", None), ("", None), ("壹" * 6000, None),
                                             ("壹" * 14, None), ("玖仟玖佰玖拾玖亿", 999900000000),
                                             ("玖仟玖佰玖拾玖万玖仟玖佰玖拾玖", 99999999)])
def test_chinese_integer(text: str, value: int | None) -> None:
    assert chinese_integer(text) == value


def test_chinese_figure_is_exact() -> None:
    assert chinese_figure("壹仟贰佰叁拾肆", "伍", "陆") == "1234.56"
    assert chinese_figure("", "伍", None) == "0.5"
    assert chinese_figure("玖仟玖佰玖拾玖万玖仟玖佰玖拾玖", "玖", "玖") == "99999999.99"
