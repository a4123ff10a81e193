"""Invoice fields from XML: GB/T e-invoice XML (original_invoice.xml), the XBRL attachments of 2021+
e-invoices (inv_ord_issuer_*, rai_issuer_* for 铁路电子客票), 数电票 XML, and OFD.xml's CustomData.

Fields are taken only from tags that name them; a document with no invoice-number tag (a bank receipt's
XBRL, a seal) is not an invoice.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from xml.etree import ElementTree

from assistant.domain.documents import MAX_XML_BYTES, ReadError, ReadResult, check_size, parse_qr
from assistant.domain.invoice_fields import merge, single_field_sources

logger = logging.getLogger(__name__)

TAGS = {
    # GB/T 36631 e-invoice XML (fp:) and its OFD CustomTag names
    "invoicecode": "code", "invoiceno": "number", "issuedate": "date", "invoicecheckcode": "check_code",
    "taxexclusivetotalamount": "amount", "taxtotalamount": "tax", "taxinclusivetotalamount": "total",
    # XBRL attachments (inv:, rai:)
    "codeofinvoice": "code", "numberofinvoice": "number", "electronicinvoicerailwayeticketnumber": "number",
    "dateofissue": "date", "identifyingcode": "check_code", "totalamountexcludingtax": "amount",
    "totaltaxamount": "tax", "taxincludedamountinfigures": "total", "fare": "total",
    # 数电票 XML
    "eiid": "number", "invoicenumber": "number", "requesttime": "date", "issuetime": "date",
    "totalamwithouttax": "amount", "totaltaxam": "tax", "totaltax-includedamount": "total",
    # pinyin initials some exporters use
    "fpdm": "code", "fphm": "number", "kprq": "date", "jym": "check_code", "hjje": "amount", "hjse": "tax",
    "jshj": "total",
    "checkcode": "check_code",
}
NAMES = {
    "发票代码": "code", "发票号码": "number", "开票日期": "date", "校验码": "check_code",
    "合计金额": "amount", "合计税额": "tax", "价税合计": "total",
}
"""Chinese names, as tags or as the Name of OFD.xml's <CustomData>."""
QR_TAGS = {"graphcode"}
"""Tags that hold the QR code's text."""


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def parse_xml(data: bytes) -> ElementTree.Element:
    """Parse XML of bounded size, refusing entity declarations (billion laughs, external entities)."""
    if len(data) > MAX_XML_BYTES:
        raise ReadError("too_complex")
    if b"<!ENTITY" in data or b"<!entity" in data:
        raise ReadError("hostile")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ReadError("corrupt") from error


def parse_lenient(data: bytes) -> ElementTree.Element:
    """Parse XML whose namespaces are broken (`<:eInvoice xmlns:="">`, undeclared `ofd:` prefixes), as
    some issuers write their CustomTag.xml: prefixes and declarations are dropped and it is parsed again."""
    try:
        return parse_xml(data)
    except ReadError as error:
        if error.reason != "corrupt":
            raise
    plain = re.sub(rb"\sxmlns(:[\w.-]*)?\s*=\s*(\"[^\"]*\"|'[^']*')", b"", data)
    plain = re.sub(rb"<(/?)[\w.-]*:", rb"<\1", plain)
    plain = re.sub(rb"(\s)[\w.-]+:([\w.-]+\s*=)", rb"\1\2", plain)
    return parse_xml(plain)


def xml_sources(root: ElementTree.Element, today: date) -> list[dict[str, str]]:
    """One source per field value the XML names (a field named twice with two values disputes)."""
    qr_codes: list[dict[str, str]] = []
    pairs: list[tuple[str, str]] = []
    for element in root.iter():
        text = (element.text or "").strip()
        if not text:
            continue
        tag = local(element.tag)
        if tag in QR_TAGS:
            if fields := parse_qr(text, today):
                qr_codes.append(fields)
        elif name := TAGS.get(tag) or NAMES.get(tag) or NAMES.get((element.get("Name") or "").strip()):
            pairs.append((name, text))
    return [*qr_codes, *single_field_sources(pairs, today)]


def read_xml(data: bytes, today: date) -> ReadResult:
    check_size(data)
    fields = merge(xml_sources(parse_xml(data), today))
    if "number" not in fields:
        raise ReadError("not_invoice")
    return ReadResult(fields, "xml")
