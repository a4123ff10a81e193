"""The rules that turn recognised lines of a photo into invoice fields (assistant/domain/ocr.py).

The lines are given as OCR hands them over (text, score, box), laid out like the paper invoices in
../shared/realdocs: values printed a little off their pre-printed labels, the code printed twice, the
number after No, the 价税合计 in words and in figures. No model runs here; tests/integration/test_photos.py
runs the real one.
"""

from __future__ import annotations

from datetime import date

from assistant.domain.ocr import TextLine, fields_from_lines

TODAY = date(2026, 12, 2)
HEIGHT = 26.0


def line(text: str, x: float, y: float, score: float = 0.99, height: float = HEIGHT) -> TextLine:
    """A recognised line starting at (x, y): CJK characters a line height wide, others 0.55 of it."""
    width = sum(height if ord(char) > 0x2E80 else 0.55 * height for char in text)
    return TextLine(text, score, x, y, x + width, y + height)


def paper_ordinary(**changed: TextLine | None) -> list[TextLine]:
    """A paper 增值税普通发票 as a phone photo reads it: dot-matrix values ~18 px below their labels."""
    lines: dict[str, TextLine | None] = {
        "title": line("天津增值税普通发票", 450, 40),
        "no": line("No 43750420", 840, 50, height=44),
        "code_left": line("012001800104", 180, 58, height=40),
        "code_right": line("012001800104", 1040, 90),
        "number_right": line("43750420", 1040, 116),
        "date_label": line("开票日期：", 870, 126),
        "date": line("2019年07月31日", 978, 145),
        "check": line("校验码604302293125987-99796", 175, 150),
        "machine": line("机器编号：499099801839", 175, 180),
        "cipher": line("03-7+<74<82915+4<745<587483>4", 700, 180),
        "buyer_tax": line("纳税人识别号：911201167972965819", 100, 210),
        "phone": line("地址、电话：天津经济技术开发区信环北街35号58573049", 100, 240),
        "bank": line("开户行及账号：交通银行1200660400180000", 100, 270),
        "items": line("单价", 690, 290),
        "amount_header": line("金额", 820, 290),
        "tax_header": line("税额", 1040, 290),
        "item_amount": line("141.75", 875, 340),
        "he": line("合", 126, 510),
        "ji": line("计", 233, 508),
        "sum_amount": line("¥141.75", 850, 527),
        "sum_tax": line("¥4.25", 1086, 530),
        "words_label": line("价税合计（大写）", 106, 545),
        "words": line("⊗壹佰肆拾陆圆整", 356, 557),
        "figures_label": line("（小写）", 857, 544),
        "figures": line("¥146.00", 965, 562),
    }
    lines.update(changed)
    return [value for value in lines.values() if value is not None]


def test_a_paper_ordinary_invoice_gives_every_field() -> None:
    assert fields_from_lines(paper_ordinary(), TODAY) == {
        "code": "012001800104", "number": "43750420", "date": "2019-07-31", "check_code": "799796",
        "amount": "141.75", "total": "146.00"}


def test_machine_number_cipher_zone_tax_ids_phones_and_accounts_are_never_fields() -> None:
    decoys = paper_ordinary(no=None, number_right=None, code_left=None, code_right=None)
    fields = fields_from_lines(decoys, TODAY)
    assert "number" not in fields and fields == {}  # without its number nothing is offered at all
    # The same decoys beside a readable number give nothing from themselves either.
    fields = fields_from_lines(paper_ordinary(code_left=None, code_right=None), TODAY)
    assert fields["number"] == "43750420" and "code" not in fields
    assert not {"499099801839", "911201167972965819", "58573049", "1200660400180000"} & set(fields.values())


def test_a_value_does_not_run_on_into_the_next_box_on_its_row() -> None:
    """No 43750420 with the code printed just right of it on the same row: never a 20-digit 数电 number."""
    fields = fields_from_lines(paper_ordinary(code_right=line("012001800104", 1020, 60)), TODAY)
    assert fields["number"] == "43750420"


def test_a_line_read_with_a_low_score_gives_nothing() -> None:
    fields = fields_from_lines(paper_ordinary(date=line("2019年07月31日", 978, 145, score=0.6)), TODAY)
    assert "date" not in fields and fields["number"] == "43750420"


def test_money_that_does_not_add_up_is_left_to_type() -> None:
    """合计 read as ¥141 (the .75 lost): amount + tax is not the total, so no money at all."""
    fields = fields_from_lines(paper_ordinary(sum_amount=line("141", 850, 527)), TODAY)
    assert not {"amount", "total"} & set(fields)
    assert fields["check_code"] == "799796"


def test_a_total_is_taken_alone_only_when_words_and_figures_agree() -> None:
    no_sums = {"he": None, "ji": None, "sum_amount": None, "sum_tax": None}
    assert fields_from_lines(paper_ordinary(**no_sums), TODAY)["total"] == "146.00"
    misread = fields_from_lines(paper_ordinary(**no_sums, figures=line("14600", 965, 562)), TODAY)
    assert "total" not in misread  # 14600 in figures against 壹佰肆拾陆 in words
    alone = fields_from_lines(paper_ordinary(**no_sums, words=None), TODAY)
    assert "total" not in alone  # one reading of a figure is not enough


def test_a_code_whose_year_is_after_the_date_is_left_with_the_date() -> None:
    """A paper code's year is its print batch's: never after the issue date (one of them is misread)."""
    fields = fields_from_lines(paper_ordinary(code_left=line("012002300104", 180, 58, height=40),
                                              code_right=line("012002300104", 1040, 90)), TODAY)
    assert "code" not in fields and "date" not in fields and fields["number"] == "43750420"


def test_two_codes_printed_twice_are_no_code() -> None:
    fields = fields_from_lines(paper_ordinary(code_right=line("012001800105", 1040, 90),
                                              stub=line("012001800105", 600, 900),
                                              again=line("012001800104", 600, 940)), TODAY)
    assert "code" not in fields and fields["number"] == "43750420"


def test_a_page_that_never_says_invoice_gives_nothing() -> None:
    assert fields_from_lines(paper_ordinary(title=line("天津市出租汽车专用收据", 450, 40)), TODAY) == {}


def test_an_e_invoice_screenshot_is_read_by_its_labels() -> None:
    lines = [
        line("电子发票（普通发票）", 300, 30),
        line("发票号码：", 700, 40), line("26127000000227474407", 830, 40),
        line("开票日期：2026年05月01日", 700, 70),
        line("合计", 60, 400), line("¥158.65", 600, 401), line("¥9.52", 800, 399),
        line("价税合计（大写）", 60, 440), line("⊗壹佰陆拾捌圆壹角柒分", 300, 440),
        line("（小写）", 600, 440), line("¥168.17", 690, 441),
    ]
    assert fields_from_lines(lines, TODAY) == {"number": "26127000000227474407", "date": "2026-05-01",
                                               "amount": "158.65", "total": "168.17"}


def test_a_20_digit_number_from_another_year_than_the_date_is_left_to_type() -> None:
    lines = [line("电子发票（普通发票）", 300, 30), line("发票号码：26127000000227474407", 700, 40),
             line("开票日期：2025年05月01日", 700, 70), line("购买方信息", 60, 120)]
    assert fields_from_lines(lines, TODAY) == {}


def test_a_motor_vehicle_invoice_gives_its_price_excluding_tax() -> None:
    lines = [line("机动车销售统一发票", 400, 30),
             line("发票代码", 60, 80), line("111001921071", 170, 80),
             line("发票号码", 600, 80), line("00263481", 710, 80),
             line("开票日期", 60, 110), line("2019-08-12", 170, 110),
             line("价税合计", 60, 300), line("⊗壹拾壹万叁仟圆整", 170, 300),
             line("小写", 600, 300), line("¥113000.00", 660, 300),
             line("不含税价", 60, 330), line("¥100000.00", 170, 330),
             line("增值税税额", 400, 330), line("¥13000.00", 540, 330)]
    fields = fields_from_lines(lines, TODAY)
    assert fields["code"] == "111001921071" and fields["number"] == "00263481" and fields["date"] == "2019-08-12"
    assert "amount" not in fields or fields["amount"] == "100000.00"


def test_a_character_the_model_was_unsure_of_makes_its_value_unreadable() -> None:
    """发票号码 42130341 with its 3 read at 0.47 (it was a 2): the number is not offered at all."""
    from assistant.domain.ocr import _certain

    unsure = _certain("发票号码：42130341", [0.99] * 9 + [0.47, 0.67, 0.99, 0.99])
    assert unsure == "发票号码：4213\ufffd341"
    lines = [line("电子发票（普通发票）", 300, 30), line("发票代码：012002200211", 700, 20),
             line(unsure, 700, 50), line("开票日期：2023年05月06日", 700, 80)]
    assert fields_from_lines(lines, TODAY) == {}
    assert _certain("No 43750420", [0.99, 0.99, 0.47] + [0.99] * 8) == "No 43750420"  # an unsure gap stays a gap
