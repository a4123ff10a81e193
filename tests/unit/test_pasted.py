"""Text pasted from e-invoice emails, the verification platform's result page and spreadsheets."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.domain.extract import extract

TODAY = date(2026, 6, 15)

PASTED = [
    pytest.param("发票代码:011002500111 发票号码:12345678 开票日期:2025年03月01日 金额:100.00 税额:13.00 价税合计:113.00",
                 {"code": "011002500111", "number": "12345678", "date": "2025-03-01", "amount": "100.00",
                  "total": "113.00"}, id="email-zh"),
    pytest.param("查验结果：一致\n发票代码：011002500111\n发票号码：12345678\n开票日期：2025年03月01日\n"
                 "校验码：85342 96568 11163 80258\n价税合计（小写）：¥113.00\n价税合计（大写）：壹佰壹拾叁圆整",
                 {"code": "011002500111", "number": "12345678", "date": "2025-03-01", "check_code": "380258",
                  "total": "113.00"}, id="verification-platform-page"),
    # an ordinary invoice's fourth field is its check code: unlabelled amounts are not taken for it
    pytest.param("011002500111\t12345678\t2025-03-01\t100.00\t13.00\t113.00",
                 {"code": "011002500111", "number": "12345678", "date": "2025-03-01"}, id="spreadsheet-row"),
    pytest.param("25112000000012345678,2025/03/10,800.00,104.00,904.00",
                 {"number": "25112000000012345678", "date": "2025-03-10", "amount": "800.00", "total": "904.00"},
                 id="csv-row-digital"),
    pytest.param("Invoice Code: 011002500111; Invoice No.: 12345678; Date of Issue: 2025-03-01; "
                 "Total Amount (incl. tax): 113.00",
                 {"code": "011002500111", "number": "12345678", "date": "2025-03-01", "total": "113.00"},
                 id="email-en"),
    pytest.param("数电发票号码：25112000000012345678 开票日期：2025年03月10日 价税合计：¥904.00",
                 {"number": "25112000000012345678", "date": "2025-03-10", "total": "904.00"}, id="digital-zh"),
    pytest.param("您好，我的发票 号码 12345678，代码 011002500111，3月1日开的，校验码后六位 380258，麻烦查一下",
                 {"code": "011002500111", "number": "12345678", "date": "2025-03-01", "check_code": "380258"},
                 id="chatty"),  # the year comes from the code (…25…)
]


@pytest.mark.parametrize(("text", "fields"), PASTED)
def test_pasted_text(text: str, fields: dict) -> None:
    result = extract(text, awaiting=None, known={}, today=TODAY, max_years=5)
    assert result.values == fields
    assert [p for p in result.problems if not p.soft] == []
