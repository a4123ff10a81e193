"""Reading invoices from QR photos, PDF, OFD and XML files built in the tests."""

from __future__ import annotations

import io
import random
from datetime import date

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from assistant.domain.documents import ReadError, parse_qr, read_document
from tests import synthetic
from tests.synthetic import ofd, png

TODAY = date(2026, 6, 15)
E_ORDINARY = "01,10,011002600111,80100798,64.9,20260301,85342965681116380258,BE2D"
DIGITAL = "01,32,,26112000000136634917,113.00,20260514,,1DD6"
SPECIAL = "01,01,1100262130,00112233,5000.00,20260310,,A1B2"


def qr_image(payload: str, scale: int = 8) -> Image.Image:
    return synthetic.qr(payload, scale=scale, border=4).convert("RGB")


def read(data: bytes, name: str = "", mime: str = "", kind: str = "document"):
    return read_document(data, file_name=name, mime_type=mime, kind=kind, today=TODAY)


@pytest.mark.parametrize(("payload", "fields"), [
    (E_ORDINARY, {"code": "011002600111", "number": "80100798", "date": "2026-03-01", "check_code": "380258"}),
    (DIGITAL, {"number": "26112000000136634917", "date": "2026-05-14", "total": "113.00"}),
    (SPECIAL, {"code": "1100262130", "number": "00112233", "date": "2026-03-10", "amount": "5000.00"}),
    ("01,04,011002600104,12345678,300,20260301,11112222333344445555,AB12",
     {"code": "011002600104", "number": "12345678", "date": "2026-03-01", "check_code": "445555"}),
])
def test_qr_payloads_of_each_family(payload: str, fields: dict) -> None:
    assert parse_qr(payload, TODAY) == fields


@pytest.mark.parametrize("payload", ["hello", "https://example.com", "02,10,a,b,c,d,e", "01,10,011,1234,1,2,3,4"])
def test_payloads_that_are_not_invoices(payload: str) -> None:
    assert parse_qr(payload, TODAY) is None


def _on_paper(qr: Image.Image, size: tuple[int, int] = (2400, 3200), at: tuple[int, int] = (1700, 300)) -> Image.Image:
    """The QR printed on a whole page of an invoice, with lines of noise like text."""
    page = Image.new("RGB", size, (236, 232, 220))
    draw = ImageDraw.Draw(page)
    rng = random.Random(3)
    for _ in range(400):
        x, y = rng.randrange(0, size[0] - 300), rng.randrange(0, size[1] - 20)
        draw.rectangle([x, y, x + rng.randrange(40, 300), y + 8], fill=(90, 90, 110))
    page.paste(qr, at)
    return page


@pytest.mark.parametrize("transform", [
    pytest.param(lambda img: img, id="plain"),
    pytest.param(lambda img: img.rotate(90, expand=True, fillcolor="white"), id="rotated-90"),
    pytest.param(lambda img: img.rotate(17, expand=True, fillcolor="white"), id="rotated-17"),
    pytest.param(lambda img: img.rotate(180, expand=True, fillcolor="white"), id="upside-down"),
    pytest.param(lambda img: img.resize((img.width // 3, img.height // 3)), id="small"),
    pytest.param(lambda img: img.filter(ImageFilter.GaussianBlur(2)), id="blurred"),
    pytest.param(lambda img: ImageEnhance.Contrast(img).enhance(0.25), id="low-contrast"),
    pytest.param(lambda img: _on_paper(img), id="whole-page-photo"),
])
def test_qr_photos(transform) -> None:
    result = read(png(transform(qr_image(E_ORDINARY))), kind="photo")
    assert result.fields["number"] == "80100798" and result.fields["code"] == "011002600111"
    assert result.source == "qr"


def test_a_photo_without_a_qr_code() -> None:
    with pytest.raises(ReadError) as error:
        read(png(Image.new("RGB", (400, 300), "white")), kind="photo")
    assert error.value.reason == "no_qr"


def test_a_pdf_with_a_qr_code() -> None:
    buffer = io.BytesIO()
    _on_paper(qr_image(DIGITAL, scale=6), size=(1240, 1754), at=(900, 100)).save(buffer, format="PDF")
    result = read(buffer.getvalue(), name="发票.pdf", mime="application/pdf")
    assert result.fields == {"number": "26112000000136634917", "date": "2026-05-14", "total": "113.00"}
    assert result.source == "pdf_qr"


def text_pdf(lines: list[str]) -> bytes:
    """A PDF whose only content is a text layer: one line per entry, top down."""
    return synthetic.pdf([(50, 750 - 16 * index, line) for index, line in enumerate(lines)], size=(612, 792))


def test_a_pdf_read_from_its_labels() -> None:
    """The layout of a 增值税电子普通发票 without a QR code: every field next to its label, the machine
    number (a valid-looking 12-digit code) and the cipher zone beside them are never taken."""
    result = read(synthetic.pdf(synthetic.e_ordinary_texts(issued="2026 03 01")), name="invoice.pdf")
    assert result.fields == {"code": "033001800311", "number": "54041450", "date": "2026-03-01",
                             "check_code": "248787", "amount": "107.55", "total": "114.00"}
    assert result.source == "pdf_text"


def test_a_digital_invoice_pdf_gives_its_total() -> None:
    result = read(synthetic.pdf(synthetic.digital_texts(issued="2026年05月14日")), name="dzfp.pdf")
    assert result.fields == {"number": "25437000000297554203", "date": "2026-05-14", "amount": "16.04",
                             "total": "17.00"}


def test_values_too_far_from_their_label_are_not_taken() -> None:
    texts = [(435, 373, "发票代码:"), (435, 356, "发票号码:"), (590, 356, "54041450"), (475, 373, "033001800311"),
             (188, 356, "增值税电子普通发票")]
    with pytest.raises(ReadError) as error:  # the number is 130 pt right of its label: not its value
        read(synthetic.pdf(texts), name="x.pdf")
    assert error.value.reason == "not_invoice"


def test_the_original_invoice_named_in_the_notes_is_not_this_one() -> None:
    texts = [*synthetic.e_ordinary_texts(issued="2026 03 01"),
             (30, 80, "对应正数发票代码:"), (110, 80, "011002600111"), (200, 80, "号码:"), (230, 80, "80100798")]
    assert read(synthetic.pdf(texts), name="red.pdf").fields["code"] == "033001800311"


def test_two_values_for_one_field_leave_it_out() -> None:
    texts = [*synthetic.e_ordinary_texts(issued="2026 03 01"), (435, 40, "发票代码:"), (475, 40, "044031800111")]
    fields = read(synthetic.pdf(texts), name="x.pdf").fields
    assert "code" not in fields and fields["number"] == "54041450"


def test_money_that_does_not_add_up_is_left_out() -> None:
    fields = read(synthetic.pdf(synthetic.digital_texts(issued="2026年05月14日", total="71.00")), name="x.pdf").fields
    assert fields == {"number": "25437000000297554203", "date": "2026-05-14"}


def test_an_embedded_qr_image_is_read_with_the_text() -> None:
    payload = "01,32,,25437000000297554203,17.00,20260514,,ABCD"
    data = synthetic.pdf(synthetic.digital_texts(issued="2026年05月14日"),
                         images=[synthetic.PdfImage(18, 323, 30, synthetic.qr(payload, scale=1))])
    result = read(data, name="dzfp.pdf")
    assert result.source == "pdf_qr"
    assert result.fields == {"number": "25437000000297554203", "date": "2026-05-14", "total": "17.00",
                             "amount": "16.04"}


def test_a_qr_the_text_contradicts_loses_the_disputed_field() -> None:
    payload = "01,32,,25437000000297554203,18.00,20260514,,ABCD"  # the QR says 18.00, the text 17.00
    data = synthetic.pdf(synthetic.digital_texts(issued="2026年05月14日"),
                         images=[synthetic.PdfImage(18, 323, 57, synthetic.qr(payload, scale=2))])
    assert "total" not in read(data, name="dzfp.pdf").fields


def test_an_old_invoice_keeps_its_date() -> None:
    """The reader keeps the date of an invoice past the five-year window; the flow says so."""
    assert parse_qr("01,10,033001600111,06675738,182.08,20171006,71262419633629765846,X", TODAY)["date"] == \
        "2017-10-06"
    assert read(synthetic.pdf(synthetic.e_ordinary_texts()), name="old.pdf").fields["date"] == "2019-05-13"


@pytest.mark.parametrize("lines", [
    ["Menu of the day", "Noodles 18"],
    # a table titled 发票 with numbers in it
    ["发票", "姓名 年龄 性别", "Tom 19 1 12345678", "Amy 28 0 87654321"],
    # an itinerary preview: a placeholder number (19 digits) and loose digits, no invoice label with a value
    ["电子发票（航空运输电子客票行程单）仅供预览", "发票号码: 9223372036854775807", "2026-03-01 CA1234 1130.00"],
    # a text layer without usable Unicode and no QR code
    ["ݎᐥդᎱ 033001600111", "ݎᐥݩᎱ 06675738"],
], ids=["menu", "table-titled-invoice", "itinerary-preview", "garbled"])
def test_pdfs_that_are_not_invoices_are_refused(lines: list[str]) -> None:
    with pytest.raises(ReadError) as error:
        read(text_pdf(lines), name="x.pdf")
    assert error.value.reason == "not_invoice"


DIGITAL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<EInvoice><Header><EIid>26112000000136634917</EIid></Header>
<EInvoiceData><BasicInformation><TotalAmWithoutTax>100.00</TotalAmWithoutTax>
<TotalTax-includedAmount>113.00</TotalTax-includedAmount><RequestTime>2026-05-14 10:12:00</RequestTime>
</BasicInformation></EInvoiceData>
<TaxSupervisionInfo><InvoiceNumber>26112000000136634917</InvoiceNumber><IssueTime>2026-05-14 10:12:00</IssueTime>
</TaxSupervisionInfo></EInvoice>"""


def test_a_digital_invoice_xml() -> None:
    result = read(DIGITAL_XML.encode(), name="dzfp.xml")
    assert result.fields == {"number": "26112000000136634917", "date": "2026-05-14", "amount": "100.00",
                             "total": "113.00"}


OFD_FILES = {
    "OFD.xml": '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody/></ofd:OFD>',
    "Doc_0/Tags/CustomTag.xml": (
        '<ofd:CustomTags xmlns:ofd="http://www.ofdspec.org/2016">'
        '<ofd:Tag Name="发票代码">011002600111</ofd:Tag><ofd:Tag Name="发票号码">80100798</ofd:Tag>'
        '<ofd:Tag Name="开票日期">2026年03月01日</ofd:Tag><ofd:Tag Name="校验码">85342965681116380258</ofd:Tag>'
        '</ofd:CustomTags>'),
}


def test_an_ofd_invoice() -> None:
    result = read(ofd(OFD_FILES), name="发票.ofd")
    assert result.fields == {"code": "011002600111", "number": "80100798", "date": "2026-03-01",
                             "check_code": "380258"}


DIGITAL_FIELDS = {"number": "26112000000136634917", "date": "2026-05-14", "amount": "100.00", "total": "113.00"}


def test_a_digital_ofd_total_is_its_amount_plus_tax() -> None:
    """数电 OFDs name 合计金额 and 合计税额 in OFD.xml, never 价税合计."""
    data = ofd({"OFD.xml": synthetic.ofd_root({
        "发票号码": "26112000000136634917", "开票日期": "2026年05月14日", "合计金额": "100.00", "合计税额": "13.00",
        "购买方纳税人识别号": "91460300MAA92DJN95"})})
    assert read(data, name="dzfp.ofd").fields == DIGITAL_FIELDS


def _page_text_ofd(template_location: str = "Tpls/Tpl_0/Content.xml") -> dict[str, str | bytes]:
    labels = [(1, 120, 8, "发票号码:"), (2, 120, 15, "开票日期:"), (3, 10, 100, "合 计"), (4, 10, 110, "价税合计(大写)"),
              (5, 140, 110, "(小写)")]
    values = [(11, 150, 8, "26112000000136634917"), (12, 150, 15, "2026年05月14日"), (13, 130, 100, "¥100.00"),
              (14, 175, 100, "¥13.00"), (15, 160, 110, "¥113.00"), (16, 40, 110, "壹佰壹拾叁圆整"),
              (17, 10, 60, "订单号 12345678901234567890")]
    return {"OFD.xml": synthetic.ofd_root(), "Doc_0/Document.xml": synthetic.ofd_document(template_location),
            "Doc_0/Tpls/Tpl_0/Content.xml": synthetic.ofd_page(labels, template=False),
            "Doc_0/Pages/Page_0/Content.xml": synthetic.ofd_page(values)}


def test_an_ofd_with_its_data_only_in_the_page_text() -> None:
    """Labels in the template, values on the page; the template's BaseLoc may differ in case."""
    assert read(ofd(_page_text_ofd()), name="a.ofd").fields == DIGITAL_FIELDS
    assert read(ofd(_page_text_ofd("TPLS/TPL_0/Content.xml")), name="a.ofd").fields == DIGITAL_FIELDS


def test_an_ofd_with_its_data_only_in_the_qr_image() -> None:
    data = ofd({"OFD.xml": synthetic.ofd_root(),
                          "Doc_0/Res/qr.png": png(synthetic.qr(DIGITAL, scale=4)),
                          "Doc_0/Res/seal.png": png(Image.new("L", (300, 300), 200))})
    assert read(data, name="a.ofd").fields == {"number": "26112000000136634917", "date": "2026-05-14",
                                                "total": "113.00"}


XBRL_INV = """<xbrl xmlns="http://www.xbrl.org/2003/instance" xmlns:inv="http://xbrl.mof.gov.cn/taxonomy/2021-09-30/inv">
<context id="c1"><entity><identifier>91330106MA7GAL1299</identifier></entity></context>
<inv:TypeOfInvoice contextRef="c1"><![CDATA[增值税电子普通发票]]></inv:TypeOfInvoice>
<inv:UniqueCodeOfInvoice contextRef="c1"><![CDATA[03300260021199934328]]></inv:UniqueCodeOfInvoice>
<inv:CodeOfInvoice contextRef="c1"><![CDATA[033002600211]]></inv:CodeOfInvoice>
<inv:NumberOfInvoice contextRef="c1"><![CDATA[99934328]]></inv:NumberOfInvoice>
<inv:DateOfIssue contextRef="c1">2026-05-14</inv:DateOfIssue>
<inv:IdentifyingCode contextRef="c1"><![CDATA[64484022470182298515]]></inv:IdentifyingCode>
<inv:NumberOfInvoiceMachine contextRef="c1"><![CDATA[661103328867]]></inv:NumberOfInvoiceMachine>
<inv:TotalAmountExcludingTax contextRef="c1" decimals="2">9.91</inv:TotalAmountExcludingTax>
<inv:TotalTaxAmount contextRef="c1" decimals="2">1.29</inv:TotalTaxAmount>
<inv:TaxIncludedAmountInFigures contextRef="c1" decimals="2">11.20</inv:TaxIncludedAmountInFigures>
<inv:InformationOfTaxableGoodsOrServicesDetailItemsTuple><inv:AmountExcludingTax contextRef="c1">5.00
</inv:AmountExcludingTax></inv:InformationOfTaxableGoodsOrServicesDetailItemsTuple></xbrl>"""
XBRL_RAIL = """<xbrl xmlns="http://www.xbrl.org/2003/instance" xmlns:rai="http://xbrl.mof.gov.cn/taxonomy/2021-11-30/rai">
<rai:TypeOfVoucher>电子发票（铁路电子客票）</rai:TypeOfVoucher><rai:ETicketNumber>306712A086012090014302026</rai:ETicketNumber>
<rai:DateOfIssue>2026-05-14</rai:DateOfIssue><rai:TravelDate>2026-05-01</rai:TravelDate><rai:Fare decimals="2">181.00</rai:Fare>
<rai:ElectronicInvoiceRailwayETicketNumber>26119130671000000049</rai:ElectronicInvoiceRailwayETicketNumber>
<rai:TotalAmountExcludingTax decimals="2">166.05</rai:TotalAmountExcludingTax><rai:TaxAmount>14.95</rai:TaxAmount>
<rai:NumberOfOriginalInvoice>26119130671000000048</rai:NumberOfOriginalInvoice></xbrl>"""
BANK_RECEIPT = """<xbrli:xbrl xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:bker="http://xbrl.mof.gov.cn/taxonomy/2021-11-30/bker">
<bker:IdentifyingCode>00102100099996221790000120402021509300089989001</bker:IdentifyingCode>
<bker:IssueDate>2026-05-14</bker:IssueDate><bker:NumberOfBankElectronicReceipt>22179000012</bker:NumberOfBankElectronicReceipt>
<bker:TransactionAmountInFigures decimals="2">40000.00</bker:TransactionAmountInFigures></xbrli:xbrl>"""


@pytest.mark.parametrize(("attachment", "fields"), [
    ("inv_ord_issuer_20260514_03300260021199934328.xml",
     {"code": "033002600211", "number": "99934328", "date": "2026-05-14", "check_code": "298515",
      "amount": "9.91", "total": "11.20"}),
    ("rai_issuer_20260514_26119130671000000049.xml",
     {"number": "26119130671000000049", "date": "2026-05-14", "amount": "166.05", "total": "181.00"}),
], ids=["e-ordinary", "railway"])
def test_an_ofd_with_its_data_only_in_an_xbrl_attachment(attachment: str, fields: dict) -> None:
    xbrl = XBRL_INV if attachment.startswith("inv") else XBRL_RAIL
    data = ofd({"OFD.xml": synthetic.ofd_root(), f"Doc_0/Attachs/{attachment}": xbrl})
    assert read(data, name="a.ofd").fields == fields
    assert read(xbrl.encode(), name=attachment).fields == fields  # the attachment on its own


ORIGINAL_INVOICE = """<?xml version="1.0" encoding="utf-8"?>
<eInvoice xmlns:fp="http://www.edrm.org.cn/schema/e-invoice/2019"><fp:InvoiceCode>051002600113</fp:InvoiceCode>
<fp:InvoiceNo>18925756</fp:InvoiceNo><fp:IssueDate>2026年01月24日</fp:IssueDate>
<fp:InvoiceCheckCode>12345678901234407976</fp:InvoiceCheckCode><fp:MachineNo>661933656579</fp:MachineNo>
<fp:TaxInclusiveTotalAmount>15478.00</fp:TaxInclusiveTotalAmount><fp:TaxTotalAmount>153.25</fp:TaxTotalAmount>
<fp:TaxExclusiveTotalAmount>15324.75</fp:TaxExclusiveTotalAmount>
<fp:GoodsInfos><fp:GoodsInfo><fp:Amount>100.00</fp:Amount></fp:GoodsInfo></fp:GoodsInfos></eInvoice>"""


def test_original_invoice_xml_gives_check_code_and_amount() -> None:
    fields = {"code": "051002600113", "number": "18925756", "date": "2026-01-24", "check_code": "407976",
              "amount": "15324.75", "total": "15478.00"}
    assert read(ORIGINAL_INVOICE.encode(), name="original_invoice.xml").fields == fields
    data = ofd({"OFD.xml": synthetic.ofd_root(), "Doc_0/Attachs/original_invoice.xml": ORIGINAL_INVOICE})
    assert read(data, name="a.ofd").fields == fields


def test_custom_tag_object_refs_with_broken_namespaces() -> None:
    """CustomTag.xml names the page's text objects holding each field; some issuers write it with
    namespaces no parser accepts."""
    tags = ('<?xml version="1.0" encoding="UTF-8"?><:eInvoice xmlns:=""><InvoiceNo><ofd:ObjectRef PageRef="1">11'
            '</ofd:ObjectRef></InvoiceNo><IssueDate><ofd:ObjectRef PageRef="1">12</ofd:ObjectRef></IssueDate>'
            '<TaxInclusiveTotalAmount><ofd:ObjectRef PageRef="1">15</ofd:ObjectRef></TaxInclusiveTotalAmount>'
            '</:eInvoice>')
    values = [(11, 150, 8, "26112000000136634917"), (12, 150, 15, "2026年05月14日"), (15, 160, 110, "¥113.00")]
    data = ofd({"OFD.xml": synthetic.ofd_root(), "Doc_0/Tags/CustomTag.xml": tags,
                          "Doc_0/Pages/Page_0/Content.xml": synthetic.ofd_page(values, template=False)})
    assert read(data, name="a.ofd").fields == {"number": "26112000000136634917", "date": "2026-05-14",
                                                "total": "113.00"}


def test_ofd_sources_that_disagree_leave_the_field_out() -> None:
    data = ofd({"OFD.xml": synthetic.ofd_root({"发票号码": "26112000000136634917", "开票日期": "2026年05月14日",
                                                         "价税合计": "113.00"}),
                          "Doc_0/Res/qr.png": png(synthetic.qr(DIGITAL.replace("113.00", "131.00")))})
    assert read(data, name="a.ofd").fields == {"number": "26112000000136634917", "date": "2026-05-14"}


@pytest.mark.parametrize("parts", [
    {"OFD.xml": synthetic.ofd_root(), "Doc_0/Attachs/bker_issuer_20260514_001.xml": BANK_RECEIPT},
    {"OFD.xml": synthetic.ofd_root(), "Doc_0/Pages/Page_0/Content.xml": synthetic.ofd_page(
        [(3, 7, 9, "国家税务总局"), (4, 7, 20, "全国统一发票监制章"), (5, 7, 30, "北京市税务局 2026")], template=False)},
], ids=["bank-receipt", "seal-only"])
def test_ofds_that_are_not_invoices_are_refused(parts: dict) -> None:
    with pytest.raises(ReadError) as error:
        read(ofd(parts), name="a.ofd")
    assert error.value.reason == "not_invoice"


@pytest.mark.parametrize(("data", "name", "reason"), [
    (b"\x00" * (20 * 1024 * 1024 + 1), "big.pdf", "too_large"),
    (b"%PDF-1.4 garbage", "broken.pdf", "corrupt"),
    (b"PK\x03\x04 not a zip", "broken.ofd", "corrupt"),
    (b"<xml", "broken.xml", "corrupt"),
    (b"<root><a>1</a></root>", "other.xml", "not_invoice"),
    (b"just some words", "notes.txt", "unsupported"),
    (b"\x89PNG\r\n\x1a\n broken", "photo.png", "corrupt"),
])
def test_files_that_cannot_be_read(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(ReadError) as error:
        read(data, name=name)
    assert error.value.reason == reason


def test_encrypted_files() -> None:
    with pytest.raises(ReadError) as error:
        read(ofd(OFD_FILES, encrypted=True), name="locked.ofd")
    assert error.value.reason == "encrypted"


@pytest.mark.parametrize("payload", [E_ORDINARY, DIGITAL, SPECIAL,
                                     "01,04,011002600104,12345678,300,20260301,11112222333344445555,AB12",
                                     "01,11,011002600106,22334455,20,20260302,11112222333344449999,CD34",
                                     "01,14,011002600112,33445566,35,20260303,11112222333344448888,EF56"],
                         ids=["e-ordinary", "digital", "special", "paper-ordinary", "roll", "toll"])
def test_qr_photos_of_each_family(payload: str) -> None:
    image = qr_image(payload).rotate(90, expand=True, fillcolor="white")
    image = image.resize((image.width // 2, image.height // 2))
    result = read(png(_on_paper(image, size=(1600, 2200), at=(1100, 200))), kind="photo")
    assert result.fields == parse_qr(payload, TODAY)
