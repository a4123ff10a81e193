"""Small synthetic e-invoice files that reproduce the structures of real ones (PDF text layers, OFD parts).

Real files carry real companies' data and stay outside the project; these builders make files with the
same structure and invented values: labels and values as separate text objects, spaced labels, machine
numbers and cipher digits next to the fields, QR codes as embedded images, OFD data in any one part.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import segno
from PIL import Image

Text = tuple[float, float, str]
"""(x, y, text) in points from the bottom left, 9 pt characters 0.6 em wide."""


@dataclass
class PdfImage:
    x: float
    y: float
    size: float
    image: Image.Image


def qr(payload: str, scale: int = 3, border: int = 2) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=scale, border=border)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def pdf(texts: Iterable[Text], images: Iterable[PdfImage] = (), size: tuple[int, int] = (610, 395)) -> bytes:
    """A PDF whose text layer holds `texts` (any Unicode: a ToUnicode map over a one-byte font, so the
    glyphs are not drawn but the text layer is exactly what real invoices give) and `images`."""
    texts, images = list(texts), list(images)
    codes: dict[str, int] = {}
    for _, _, text in texts:
        for char in text:
            if char not in codes:
                codes[char] = 0x21 + len(codes)
    assert len(codes) < 220, "too many distinct characters for a one-byte font"
    content = []
    for x, y, text in texts:
        hexed = "".join(f"{codes[char]:02X}" for char in text)
        content.append(f"BT /F1 9 Tf {x} {y} Td <{hexed}> Tj ET")
    for index, placed in enumerate(images):
        content.append(f"q {placed.size} 0 0 {placed.size} {placed.x} {placed.y} cm /Im{index} Do Q")
    stream = "\n".join(content).encode()
    pairs = sorted((code, char) for char, code in codes.items())
    cmap = ["/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Synthetic-UCS def /CMapType 2 def", "1 begincodespacerange <00> <FF> endcodespacerange"]
    for start in range(0, len(pairs), 100):
        block = pairs[start:start + 100]
        cmap.append(f"{len(block)} beginbfchar")
        cmap += [f"<{code:02X}> <{ord(char):04X}>" for code, char in block]
        cmap.append("endbfchar")
    cmap.append("endcmap CMapName currentdict /CIDInit defineresource pop end end")
    cmap_stream = "\n".join(cmap).encode()
    x_objects = " ".join(f"/Im{index} {7 + index} 0 R" for index in range(len(images)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]} {size[1]}] /Contents 4 0 R "
         f"/Resources << /Font << /F1 5 0 R >> /XObject << {x_objects} >> >> >>").encode(),
        _stream(stream),
        (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 0 /LastChar 255 /Widths ["
         + b" ".join([b"600"] * 256) + b"] /ToUnicode 6 0 R >>"),
        _stream(cmap_stream),
    ]
    for placed in images:
        gray = placed.image.convert("L")
        objects.append(_stream(zlib.compress(gray.tobytes()),
                               f"/Type /XObject /Subtype /Image /Width {gray.width} /Height {gray.height} "
                               "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"))
    return _pdf_file(objects)


def _stream(data: bytes, extra: str = "") -> bytes:
    return f"<< {extra} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def _pdf_file(objects: list[bytes]) -> bytes:
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF".encode())
    return out.getvalue()


def e_ordinary_texts(code: str = "033001800311", number: str = "54041450", issued: str = "2019 05 13",
                     check: str = "83592 04893 24602 48787", amount: str = "107.55", tax: str = "6.45",
                     total: str = "114.00") -> list[Text]:
    """The layout of a 增值税电子普通发票 (2017–2022): labels at the top right, values as objects of their
    own, the machine number and cipher zone beside them, the 合计 and 价税合计 rows."""
    return [
        (435, 373, "发票代码:"), (435, 356, "发票号码:"), (435, 339, "开票日期:"),
        (30, 321, "机器编号:"), (405, 321, "校 验 码:"),
        # values, written after the labels (and in another order), as issuers' software does
        (188, 356, "浙江增值税电子普通发票"), (475, 373, code), (475, 356, number), (477, 339, issued),
        (470, 321, check), (76, 321, "661814586395"),
        (382, 297, ">1+++/*1438-6/*68088->47+96"), (382, 282, "9+18+214/**-*5<7596303-+97*"),
        (48, 283, "纳税人识别号:"), (110, 283, "91330106673959654P"),
        (48, 254, "开户行及账号:"), (110, 254, "建行支行51001908608059000888"),
        (61, 128, "合 计"), (432, 126, f"¥{amount}"), (557, 126, f"¥{tax}"),
        (61, 110, "价税合计(大写)"), (449, 110, "(小写)"), (486, 110, f"¥{total}"),
        (48, 62, "地 址、电 话:"), (110, 62, "杭州市转塘科技经济区块16号8幢 0571-85022088"),
    ]


def digital_texts(number: str = "25437000000297554203", issued: str = "2025年10月13日", amount: str = "16.04",
                  tax: str = "0.96", total: str = "17.00") -> list[Text]:
    """The layout of a 数电票 (电子发票（普通发票）): number and date top right, full-width colons."""
    return [
        (255, 356, "电子发票（普通发票）"), (420, 356, "发票号码："), (470, 356, number),
        (420, 339, "开票日期："), (470, 339, issued),
        (30, 265, "统一社会信用代码/纳税人识别号："), (180, 265, "91430102727985656Y"),
        (30, 237, "项目名称"), (330, 237, "金 额"), (380, 237, "税率/征收率"), (470, 237, "税 额"),
        (30, 226, "*快递服务*收派服务费"), (200, 226, "1"), (330, 226, amount), (470, 226, tax),
        (61, 127, "合 计"), (432, 127, f"¥{amount}"), (557, 127, f"¥{tax}"),
        (61, 110, "价税合计（大写）"), (180, 110, "壹拾柒圆整"), (420, 110, "（小写）"), (470, 110, f"¥{total}"),
        (40, 91, "单号:SF0252200797031"),
    ]


OFD_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def ofd(parts: dict[str, str | bytes], encrypted: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    data = bytearray(buffer.getvalue())
    if encrypted:  # set the "encrypted" flag of the first local header and central entry
        data[6] |= 1
        central = data.find(b"PK\x01\x02")
        data[central + 8] |= 1
    return bytes(data)


def ofd_root(custom: dict[str, str] | None = None) -> str:
    datas = "".join(f'<ofd:CustomData Name="{name}">{value}</ofd:CustomData>'
                    for name, value in (custom or {}).items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {OFD_NS} DocType="OFD" Version="1.1"><ofd:DocBody>'
            f'<ofd:DocInfo><ofd:DocID>0</ofd:DocID><ofd:CustomDatas>{datas}</ofd:CustomDatas></ofd:DocInfo>'
            '<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>')


def ofd_document(template: str = "Tpls/Tpl_0/Content.xml") -> str:
    return (f'<ofd:Document {OFD_NS}><ofd:CommonData><ofd:PageArea><ofd:PhysicalBox>0 0 210 140'
            f'</ofd:PhysicalBox></ofd:PageArea><ofd:TemplatePage ID="2" BaseLoc="{template}"/></ofd:CommonData>'
            '<ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>')


def ofd_page(objects: Iterable[tuple[int, float, float, str]], template: bool = True, size: float = 3.175) -> str:
    """A page (or template) whose text objects are (ID, x mm, y mm, text), y growing downwards."""
    body = "".join(
        f'<ofd:TextObject ID="{ident}" Boundary="{x} {y} 80 5" Font="3" Size="{size}">'
        f'<ofd:TextCode X="0" Y="{size}" DeltaX="g {max(len(text) - 1, 0)} {size}">{text}</ofd:TextCode>'
        '</ofd:TextObject>' for ident, x, y, text in objects if text)
    uses = '<ofd:Template TemplateID="2" ZOrder="Background"/>' if template else ""
    return (f'<ofd:Page {OFD_NS}><ofd:Area><ofd:PhysicalBox>0 0 210 140</ofd:PhysicalBox></ofd:Area>{uses}'
            f'<ofd:Content><ofd:Layer ID="9">{body}</ofd:Layer></ofd:Content></ofd:Page>')


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
