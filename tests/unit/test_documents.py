"""Reading invoices from QR photos, PDF, OFD and XML files built in the tests."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date

import pytest
import segno
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from assistant.domain.documents import ReadError, parse_qr, read_document

TODAY = date(2026, 6, 15)
E_ORDINARY = "01,10,011002600111,80100798,64.9,20260301,85342965681116380258,BE2D"
DIGITAL = "01,32,,26112000000136634917,113.00,20260514,,1DD6"
SPECIAL = "01,01,1100262130,00112233,5000.00,20260310,,A1B2"


def qr_image(payload: str, scale: int = 8) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=scale, border=4)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


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
    """A minimal PDF whose only content is a text layer (Helvetica, ASCII)."""
    stream = "BT /F1 12 Tf 50 750 Td 16 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF".encode())
    return out.getvalue()


def test_a_pdf_read_from_its_text_layer() -> None:
    data = text_pdf(["Invoice code: 011002600111", "Invoice number: 80100798", "Issue date: 2026-03-01",
                     "Check code: 85342965681116380258"])
    result = read(data, name="invoice.pdf")
    assert result.fields == {"code": "011002600111", "number": "80100798", "date": "2026-03-01",
                             "check_code": "380258"}
    assert result.source == "pdf_text"


def test_a_pdf_that_is_not_an_invoice() -> None:
    with pytest.raises(ReadError) as error:
        read(text_pdf(["Menu of the day", "Noodles 18"]), name="menu.pdf")
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


def ofd(files: dict[str, str], encrypted: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    data = bytearray(buffer.getvalue())
    if encrypted:  # set the "encrypted" flag of the first local header and central entry
        data[6] |= 1
        central = data.find(b"PK\x01\x02")
        data[central + 8] |= 1
    return bytes(data)


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
