"""Import invoices from CSV or XLSX: English headers or the e-tax bureau's Chinese export."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import re
import csv
import itertools
import logging
import multiprocessing
import threading
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from assistant.domain.identifiers import (
    compact,
    tax_id_valid,
    family_of,
    parse_date,
    validate_code,
    validate_money,
    validate_number,
)
from assistant.store.invoices import COMPARED, InvoiceImport, encoded
from assistant.store.models import INVOICE_STATUSES, Invoice
from assistant.store.dialect import dialect_insert

logger = logging.getLogger(__name__)

BATCH = 10_000
"""Rows read, checked, staged and merged at a time (one transaction each: short, so that on SQLite the bot
keeps writing meanwhile)."""
WORKER_FROM_BYTES = 4 << 20
"""Files from this size are read in a process of their own (starting it costs about half a second)."""
ANALYZE_AFTER = 10_000
"""Invoices written by an import from which the statistics are refreshed."""

HEADERS: dict[str, str] = {
    "code": "code", "number": "number", "kind": "kind", "issue_date": "issue_date", "amount": "amount",
    "tax": "tax", "total": "total", "check_code": "check_code", "seller_tax_id": "seller_tax_id",
    "seller_name": "seller_name", "buyer_tax_id": "buyer_tax_id", "buyer_name": "buyer_name",
    "status": "status", "synced_at": "synced_at", "status_changed_at": "status_changed_at",
    "发票代码": "code", "发票号码": "number", "数电发票号码": "digital_number", "数电票号码": "digital_number",
    "开票日期": "issue_date", "金额": "amount", "税额": "tax", "价税合计": "total", "校验码": "check_code",
    "销方识别号": "seller_tax_id", "销方名称": "seller_name", "购方识别号": "buyer_tax_id", "购方名称": "buyer_name",
    "发票状态": "status", "同步时间": "synced_at", "状态变更时间": "status_changed_at",
}
REQUIRED = {"issue_date": "issue_date / 开票日期", "amount": "amount / 金额", "seller_tax_id": "seller_tax_id / 销方识别号"}
STATUSES_HINT = "正常/作废/已作废/红冲/已红冲/全额红冲/部分红冲/失控/异常"
STATUSES = {"正常": "normal", "作废": "voided", "已作废": "voided", "红冲": "red_reversed", "已红冲": "red_reversed",
            "全额红冲": "red_reversed", "部分红冲": "red_reversed", "失控": "out_of_control", "异常": "abnormal",
            **{s: s for s in INVOICE_STATUSES}, "red-reversed": "red_reversed", "out of control": "out_of_control"}
LENGTHS = {name: Invoice.__table__.c[name].type.length for name in  # type: ignore[attr-defined]
           ("check_code", "seller_tax_id", "seller_name", "buyer_tax_id", "buyer_name")}
"""The stored columns' lengths: a longer value is a bad row, not a failed import."""
KINDS = {"special", "e_special", "ordinary", "roll", "e_ordinary", "toll", "digital", "other"}


@dataclass(frozen=True)
class InvoiceRecord:
    code: str
    number: str
    kind: str
    issue_date: date
    amount: Decimal
    tax: Decimal
    total: Decimal
    check_code: str
    seller_tax_id: str
    seller_name: str
    buyer_tax_id: str
    buyer_name: str
    status: str
    synced_at: datetime | None
    uploaded_at: datetime | None = None
    status_changed_at: datetime | None = None
    """When the status changed, if the file says; never the import's own time."""


SHOWN = 1000
"""Bad rows and warnings a report keeps (the first ones by row); the rest are counted."""


@dataclass
class ImportReport:
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, Reason]] = field(default_factory=list)
    """The first SHOWN bad rows (row number, reason), by row."""
    warnings: list[tuple[int, Reason]] = field(default_factory=list)
    """Rows imported, but worth a look (a future date, a total that is not amount + tax…): the first SHOWN."""
    rejected: int = 0
    """Every bad row, shown or not."""

    def reject(self, row: int, reason: Reason) -> None:
        self.rejected += 1
        if len(self.errors) < SHOWN:
            self.errors.append((row, reason))

    def warn(self, row: int, warnings: list[Reason]) -> None:
        room = SHOWN - len(self.warnings)
        self.warnings += [(row, warning) for warning in warnings[:max(room, 0)]]


class Reason(str):
    """Why a row is refused or worth a look: English words (the str itself, for logs and the English
    report), and a code with its values, which `replies/*/import_reason.j2` says in the admin's language.

    Values named `column` or ending in `_column` are columns, called as the file calls them."""

    code: str
    params: dict[str, str]

    def __new__(cls, text: str, code: str = "other", params: dict[str, str] | None = None) -> Reason:
        reason = super().__new__(cls, text)
        reason.code, reason.params = code, dict(params or {})
        return reason

    def __reduce__(self) -> tuple[Any, ...]:  # from the reading process, whole
        return Reason, (str(self), self.code, self.params)

    @classmethod
    def from_json(cls, value: Any) -> Reason:
        """A reason given as JSON by the isolated reader (or a plain text: said as it is)."""
        if isinstance(value, dict):
            params = value.get("params")
            return cls(str(value.get("text", "")), str(value.get("code", "other")),
                       {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {})
        return cls(str(value))


def reason(text: str, key: str, **params: Any) -> Reason:
    """A Reason whose values are given as they come (said as text)."""
    return Reason(text, key, {name: str(value) for name, value in params.items()})


class RowError(ValueError):
    """A row (or a whole file) that cannot be imported: the reason in English words (str(error)), and as a
    code with its values (`reason`)."""

    def __init__(self, text: str, code: str = "other", **params: Any) -> None:
        super().__init__(text)
        self.code, self.params = code, {name: str(value) for name, value in params.items()}

    @property
    def reason(self) -> Reason:
        return Reason(str(self), self.code, self.params)

    def __reduce__(self) -> tuple[Any, ...]:  # from the reading process, whole
        return _row_error, (str(self), self.code, self.params)


def _row_error(text: str, code: str, params: dict[str, str]) -> RowError:
    return RowError(text, code, **params)


class FileKindError(RowError):
    """The file is not a table the importer reads: `kind` is "xls" (old Excel, refused) or what the content
    looks like ("PNG", "PDF", "ZIP"…)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the file is not CSV or XLSX (its content is {kind})", "not_a_table", kind=kind)
        self.kind = kind

    def __reduce__(self) -> tuple[type[FileKindError], tuple[str]]:  # from the reading process, as it was
        return FileKindError, (self.kind,)


MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"), (b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"), (b"%PDF", "PDF"), (b"BM", "BMP"), (b"RIFF", "RIFF"), (b"\x1f\x8b", "gzip"), (b"Rar!", "RAR"),
    (b"7z\xbc\xaf", "7z"), (b"\x7fELF", "ELF"), (b"MZ", "EXE"),
)
"""How files that are not tables begin (their magic numbers)."""


def file_kind(path: Path) -> str:
    """"xlsx" or "csv" by the file's content, not its name; FileKindError for anything else."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError) as error:
            raise FileKindError("ZIP") from error
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise FileKindError("ZIP")
    for magic, kind in MAGIC:
        if head.startswith(magic):
            raise FileKindError(kind)
    if head.count(b"\x00") * 10 > len(head):  # text, even with a NUL in a cell (a bad row), has few
        raise FileKindError("binary")
    return "csv"


def _text(value: Any) -> str:
    if type(value) is str:  # a CSV's every value: the common case first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_PLAIN_MONEY = re.compile(r"-?\d{1,12}(?:\.\d{1,2})?")
_CENTS = re.compile(r"-?[0-9]{1,12}\.[0-9]{2}")
"""A sum written with two decimals, ASCII digits: Decimal() of it is what is stored (zero aside)."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CENT = Decimal("0.01")
_tax_id_valid = functools.lru_cache(maxsize=65_536)(tax_id_valid)
"""Companies repeat row after row; the cache is bounded."""


def _plain_digits(raw: str, lengths: tuple[int, ...]) -> bool:
    """ASCII digits of an allowed length: what the validators would return unchanged (the fast path)."""
    return raw.isascii() and raw.isdigit() and len(raw) in lengths


def _compact(raw: str) -> str:
    return raw if not raw or (raw.isascii() and raw.isalnum()) else compact(raw)


def _money(value: Any, name: str, required: bool = True) -> Decimal | None:
    """An amount; negative ones are a red-letter invoice's, checked against each other by the caller."""
    raw = value.strip() if type(value) is str else _text(value)
    if _CENTS.fullmatch(raw) and (exact := Decimal(raw)):  # most rows: two decimals, already what it is stored as
        return exact
    if not raw:
        if required:
            raise RowError(f"{name} is empty", "empty", column=name)
        return None
    if raw in ("0", "0.0", "0.00", "-0", "-0.00"):
        return Decimal("0.00")
    negative = raw.startswith("-")
    if _PLAIN_MONEY.fullmatch(raw) and (plain := Decimal(raw.lstrip("-"))):  # most rows: what validate_money gives
        return -plain.quantize(_CENT) if negative else plain.quantize(_CENT)
    parsed, problems = validate_money(raw.lstrip("-"), name)
    if problems or parsed is None:
        raise RowError(f"{name} {raw!r} is not a sum of money with at most two decimals", "money", column=name, raw=raw)
    return -Decimal(parsed) if negative else Decimal(parsed)


def _identifier(value: Any, lengths: tuple[int, ...]) -> str:
    """An identifier's text; one a spreadsheet stored as a number gets back the leading zeros it lost."""
    raw = _text(value)
    if isinstance(value, (int, float)) and raw.isdigit() and len(raw) < max(lengths):
        wanted = min((n for n in lengths if n >= len(raw)), default=len(raw))
        if wanted - len(raw) <= 2:  # Excel drops leading zeros; more than two is not that
            return raw.zfill(wanted)
    return raw


@functools.lru_cache(maxsize=4096)
def _iso_date(raw: str) -> date | None:
    """A date written YYYY-MM-DD (files repeat their days row after row; the cache is bounded), else None."""
    if _ISO_DATE.fullmatch(raw):
        with contextlib.suppress(ValueError):  # an impossible date: parse_date says so
            return date.fromisoformat(raw)
    return None


def _date(value: Any) -> date:
    if type(value) is str and (day := _iso_date(value.strip())) is not None:  # a CSV's, the common case first
        return day
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = _text(value)
    if (day := _iso_date(raw)) is not None:
        return day
    parsed = parse_date(raw.split(" ")[0] if " " in raw and "年" not in raw else raw, date.today())
    if not isinstance(parsed, date):
        raise RowError(f"issue_date {raw!r} is not a date", "date", column="issue_date", raw=raw)
    return parsed


def _moment(value: Any, tz: tzinfo) -> datetime | None:
    """A moment; one written without a zone is in `tz` (TIMEZONE: the e-tax bureau's exports are local)."""
    if type(value) is str:  # a CSV's, the common case first
        text = value.strip()
        return _moment_of(text, tz) if text else None
    if value is None or _text(value) == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return _moment_of(_text(value), tz)


@functools.lru_cache(maxsize=4096)
def _moment_of(text: str, tz: tzinfo) -> datetime:
    """A moment written as text (exports repeat their sync times row after row; the cache is bounded)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise RowError(f"synced_at {text!r} is not a date and time", "moment", column="synced_at", raw=text) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


_TEXTS = ("check_code", "seller_name", "buyer_tax_id", "buyer_name", "seller_tax_id")
_MAX_CHECK_CODE, _MAX_SELLER_NAME, _MAX_BUYER_TAX_ID, _MAX_BUYER_NAME, _MAX_SELLER_TAX_ID = (
    LENGTHS[name] for name in _TEXTS)
_ZERO = Decimal("0.00")


def _fields(row: dict[str, Any], has_sync_column: bool, now: datetime, tz: tzinfo) -> tuple[Any, ...]:
    """One row's values in InvoiceRecord's order; raises RowError with the reason.

    The work of every row of a large file: plain values (a CSV's text, ASCII digits, two decimals, an ISO
    date) take the short way to what the general checks would give."""
    get = row.get
    value, number_value = get("digital_number"), get("number")
    number_raw = ((value.strip() if type(value) is str else _text(value))
                  or (number_value.strip() if type(number_value) is str else _identifier(number_value, (8, 20))))
    if not number_raw:
        raise RowError("number is empty", "empty", column="number")
    number: str | None = number_raw
    if not (number_raw.isdigit() and number_raw.isascii() and len(number_raw) in (8, 20)):
        number, _ = validate_number(number_raw)
        if number is None:
            raise RowError(f"number {number_raw!r} must have 8 or 20 digits", "number_length", column="number", raw=number_raw)
    assert number is not None
    code = ""
    if len(number) != 20:
        value = get("code")
        code_raw = value.strip() if type(value) is str else _identifier(value, (12,))
        if code_raw.isdigit() and code_raw.isascii() and len(code_raw) in (10, 12):
            code = code_raw
        else:
            code_value, _ = validate_code(code_raw)
            if code_value is None:
                raise RowError(f"code {code_raw!r} must have 10 or 12 digits", "code_length", column="code", raw=code_raw)
            code = code_value
    value = get("kind")
    kind = (value.strip() if type(value) is str else _text(value)) or family_of(code or None, number) or "other"
    if kind not in KINDS:
        raise RowError(f"kind {kind!r} is not one of {', '.join(sorted(KINDS))}", "kind", column="kind", raw=kind,
                       kinds=", ".join(sorted(KINDS)))
    value = get("status")
    status_raw = (value.strip() if type(value) is str else _text(value)) or "normal"
    status = STATUSES.get(status_raw) or STATUSES.get(status_raw.lower())  # every key is lower case already
    if status is None:
        raise RowError(f"status {status_raw!r} is unknown ({STATUSES_HINT})", "status", column="status", raw=status_raw,
                       hint=STATUSES_HINT)
    amount = _money(get("amount"), "amount")
    tax = _money(get("tax"), "tax", required=False) or _ZERO
    total = _money(get("total"), "total", required=False) or (amount + tax)  # type: ignore[operator]
    assert amount is not None
    if (amount < 0) != (total < 0) and amount and total:
        raise RowError(f"amount {amount} and total {total} have different signs (a red-letter invoice is "
                       "negative in both)", "signs", amount_column="amount", amount=amount, total_column="total",
                       total=total)
    value = get("seller_tax_id")
    seller_tax_id = _compact(value.strip() if type(value) is str else _text(value)).upper()
    if not seller_tax_id:
        raise RowError("seller_tax_id is empty", "empty", column="seller_tax_id")
    synced_at = _moment(get("synced_at"), tz) if has_sync_column else now
    value = get("check_code")
    check_code = _compact(value.strip() if type(value) is str else _text(value))
    value = get("seller_name")
    seller_name = value.strip() if type(value) is str else _text(value)
    value = get("buyer_tax_id")
    buyer_tax_id = _compact(value.strip() if type(value) is str else _text(value)).upper()
    value = get("buyer_name")
    buyer_name = value.strip() if type(value) is str else _text(value)
    texts = (check_code, seller_name, buyer_tax_id, buyer_name, seller_tax_id)
    if (len(check_code) > _MAX_CHECK_CODE or len(seller_name) > _MAX_SELLER_NAME
            or len(buyer_tax_id) > _MAX_BUYER_TAX_ID or len(buyer_name) > _MAX_BUYER_NAME
            or len(seller_tax_id) > _MAX_SELLER_TAX_ID or "\x00" in "".join(texts)):
        for name, text in zip(_TEXTS, texts):
            if len(text) > LENGTHS[name]:
                raise RowError(f"{name} is longer than {LENGTHS[name]} characters", "too_long", column=name,
                               limit=LENGTHS[name])
            if "\x00" in text:
                raise RowError(f"{name} holds a NUL character", "nul", column=name)
    return (code, number, kind, _date(get("issue_date")), amount, tax, total, check_code, seller_tax_id,
            seller_name, buyer_tax_id, buyer_name, status, synced_at, None, _moment(get("status_changed_at"), tz))


def parse_row(row: dict[str, Any], *, has_sync_column: bool, now: datetime, tz: tzinfo) -> InvoiceRecord:
    """One spreadsheet row as a record (times without a zone in `tz`); raises RowError with the reason."""
    return InvoiceRecord(*_fields(row, has_sync_column, now, tz))


def row_warnings(record: InvoiceRecord, today: date) -> list[Reason]:
    """What is odd about a row that is still imported."""
    return _warnings(record.issue_date, record.amount, record.tax, record.total, record.seller_tax_id,
                     record.buyer_tax_id, today)


def _warnings(issue_date: date, amount: Decimal, tax: Decimal, total: Decimal, seller_tax_id: str,
              buyer_tax_id: str, today: date) -> list[Reason]:
    warnings: list[Reason] = []
    if issue_date > today:
        warnings.append(reason(f"issue_date {issue_date} is in the future", "future", column="issue_date", date=issue_date))
    if total != amount + tax:
        warnings.append(reason(f"total {total} is not amount {amount} + tax {tax}", "total_mismatch", total_column="total",
                               total=total, amount_column="amount", amount=amount, tax_column="tax", tax=tax))
    if seller_tax_id and not _tax_id_valid(seller_tax_id):
        warnings.append(reason(f"seller_tax_id {seller_tax_id} fails its check digit", "check_digit",
                               column="seller_tax_id", value=seller_tax_id))
    if buyer_tax_id and not _tax_id_valid(buyer_tax_id):
        warnings.append(reason(f"buyer_tax_id {buyer_tax_id} fails its check digit", "check_digit",
                               column="buyer_tax_id", value=buyer_tax_id))
    return warnings


def _map_headers(headers: Sequence[Any]) -> list[str | None]:
    mapped = [HEADERS.get(_text(h).lower(), HEADERS.get(_text(h))) for h in headers]
    if "number" not in mapped and "digital_number" not in mapped:
        raise RowError("no invoice number column (number / 发票号码 / 数电发票号码)", "no_number_column")
    missing = [label for name, label in REQUIRED.items() if name not in mapped]
    if missing:
        raise RowError(f"missing columns: {', '.join(missing)}", "missing_columns", columns=", ".join(missing))
    return mapped


_COLUMN = re.compile(r"(?<!\w)(" + "|".join(sorted(set(HEADERS.values()), key=len, reverse=True)) + r")(?!\w)")
_QUOTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def in_file_terms(said: str, columns: dict[str, str]) -> Reason:
    """A reason with each column called as the file calls it (`issue_date` → `开票日期`), in its words and in its
    values; quoted values stay."""
    if "number" not in columns and "digital_number" in columns:
        columns = {**columns, "number": columns["digital_number"]}
    parts = _QUOTED.split(said)  # odd parts: the file's values, as repr() quoted them
    text = "".join(part if index % 2 else _COLUMN.sub(lambda m: columns.get(m[0], m[0]), part)
                   for index, part in enumerate(parts))
    if not isinstance(said, Reason):
        return Reason(text)
    return Reason(text, said.code, {name: columns.get(value, value) if name == "column" or name.endswith("_column")
                                    else value for name, value in said.params.items()})


def repeated_key(code: str, number: str, earlier: int) -> Reason:
    """A key the file had in an earlier row: refused, with that row."""
    return reason(f"invoice {code} {number} is already in row {earlier}", "repeated", code=code, number=number,
                  row=earlier)


def _is_header(values: Sequence[Any]) -> bool:
    names = {HEADERS.get(_text(v).lower(), HEADERS.get(_text(v))) for v in values}
    return bool(names & {"number", "digital_number"})


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030, whichever decodes the whole file, read in chunks."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise RowError("the file is neither UTF-8 nor GB18030 text", "encoding")


def _csv_rows(path: Path) -> Iterator[list[Any]]:
    """The rows of a CSV or tab-separated file, read as they come (memory does not grow with the file)."""
    encoding = _encoding(path)
    with path.open(encoding=encoding, newline="") as handle:
        head = "".join(itertools.islice(handle, 10))
        delimiter = "\t" if head.count("\t") > head.count(",") else ","  # tab-separated exports too
        handle.seek(0)
        yield from csv.reader(handle, delimiter=delimiter)


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as handle:  # a handle: openpyxl would go by the name's extension
        try:
            book = load_workbook(handle, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
            raise RowError(f"the XLSX file could not be opened ({type(error).__name__})", "xlsx_unopenable",
                           error=type(error).__name__) from error
        try:
            for row in book.active.iter_rows(values_only=True):  # type: ignore[union-attr]
                yield list(row)
        finally:
            book.close()


def read_rows(path: Path) -> tuple[Iterator[tuple[int, dict[str, Any]]], bool, dict[str, str]]:
    """(row number, mapped row) pairs of a CSV or XLSX file (told apart by content, not by name), whether it
    has a sync column, and the file's name of each column read."""
    texts_only = file_kind(path) != "xlsx"
    rows = _xlsx_rows(path) if not texts_only else _csv_rows(path)
    header, start, first = None, 1, None
    for start, values in enumerate(rows, start=1):  # title rows above the header are skipped
        first = first if first is not None else (values if any(_text(v) for v in values) else None)
        if _is_header(values) or start >= 10:
            header = values if _is_header(values) else first
            break
    header = header if header is not None else first
    if header is None:
        raise RowError("the file is empty", "file_empty")
    mapped = _map_headers(header)

    unnamed = None in mapped

    def generate() -> Iterator[tuple[int, dict[str, Any]]]:
        for index, values in enumerate(rows, start=start + 1):
            if texts_only:  # a CSV's: blank when its values joined are (each is stripped the same way)
                if not "".join(values).strip():
                    continue
            elif not any(_text(v) for v in values):
                continue
            row: dict[Any, Any] = dict(zip(mapped, values))  # a name twice: its last column, as before
            if unnamed:
                row.pop(None, None)
            yield index, row

    columns = {name: _text(label) for name, label in zip(mapped, header) if name}
    return generate(), "synced_at" in mapped, columns


def invoice_values(record: InvoiceRecord, now: datetime) -> dict[str, Any]:
    """The columns of a new invoice row for a record imported at `now`."""
    values = {item.name: getattr(record, item.name) for item in fields(record)}
    values["sync_state"] = "synced" if record.synced_at else "pending"
    values["uploaded_at"] = record.uploaded_at or (record.synced_at or now)
    values["status_changed_at"] = record.status_changed_at  # the file's, or unknown (never the import's time)
    return values


async def upsert_invoices(session: AsyncSession, records: Sequence[InvoiceRecord], *, now: datetime,
                          report: ImportReport | None = None) -> ImportReport:
    """Insert new invoices, update changed ones, leave identical ones untouched."""
    report = report or ImportReport()
    by_key = {(r.code, r.number): r for r in records}
    numbers = list({number for _, number in by_key})
    existing = {(inv.code, inv.number): inv for inv in await session.scalars(
        select(Invoice).where(Invoice.number.in_(numbers))) if (inv.code, inv.number) in by_key}
    fresh: list[dict[str, Any]] = []
    for key, record in by_key.items():
        values = invoice_values(record, now)
        current = existing.get(key)
        if current is None:
            fresh.append(values)
            report.new += 1
            continue
        if all(getattr(current, name) == values[name] for name in COMPARED):
            report.unchanged += 1
            continue
        if current.status != record.status:
            current.status_changed_at = record.status_changed_at  # when it changed is not when we noticed
        for name in COMPARED:
            setattr(current, name, values[name])
        current.synced_at = record.synced_at
        report.updated += 1
    if fresh:
        await session.execute(dialect_insert(session, Invoice).on_conflict_do_nothing(
            index_elements=["code", "number"]), fresh)
    return report


def _batches(items: Iterable[tuple[int, dict[str, Any]]], size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    batch: list[tuple[int, dict[str, Any]]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def staged_row(line: int, record: InvoiceRecord, now: datetime) -> tuple[Any, ...]:
    """A record as the bulk path stages it: its line, then the columns of `STAGED` (as `invoice_values`)."""
    r = record
    return (line, r.code, r.number, r.kind, r.issue_date, r.amount, r.tax, r.total, r.check_code, r.seller_tax_id,
            r.seller_name, r.buyer_tax_id, r.buyer_name, r.status, r.status_changed_at,
            "synced" if r.synced_at else "pending", r.uploaded_at or (r.synced_at or now), r.synced_at)


@asynccontextmanager
async def _staging(connection: AsyncConnection,
                   sessions: Callable[..., AsyncSession]) -> AsyncIterator[InvoiceImport]:
    """One transaction on the import's connection (its staging table is the connection's)."""
    async with sessions(bind=connection) as session, session.begin():
        yield InvoiceImport(session)


@dataclass
class Parsed:
    """One batch of a file, checked: the rows read, the good ones as staged rows, bad rows and warnings."""

    rows: int
    staged: int
    batch: Any
    """The good rows as the backend's bulk path takes them (`encoded`)."""
    errors: list[tuple[int, Reason]]
    warnings: list[tuple[int, Reason]]


def parsed_batches(path: Path, now: datetime, sqlite: bool, tz: tzinfo) -> Iterator[Parsed]:
    """The file read and checked a batch at a time; RowError first when the file itself is unusable."""
    rows, has_sync, columns = read_rows(path)
    today = now.date()
    for batch in _batches(rows, BATCH):
        parsed = Parsed(rows=len(batch), staged=0, batch=None, errors=[], warnings=[])
        staged: list[tuple[Any, ...]] = []
        first: dict[tuple[str, str], int] = {}  # the batch's keys (earlier batches': the database's)
        for index, row in batch:
            try:
                (code, number, kind, issued, amount, tax, total, check_code, seller_tax_id, seller_name, buyer_tax_id,
                 buyer_name, status, synced_at, _, status_changed_at) = _fields(row, has_sync, now, tz)
            except RowError as error:
                parsed.errors.append((index, in_file_terms(error.reason, columns)))
                continue
            earlier = first.setdefault((code, number), index)
            if earlier != index:
                parsed.errors.append((index, repeated_key(code, number, earlier)))
                continue
            if warnings := _warnings(issued, amount, tax, total, seller_tax_id, buyer_tax_id, today):
                parsed.warnings += [(index, in_file_terms(warning, columns)) for warning in warnings]
            staged.append((index, code, number, kind, issued, amount, tax, total, check_code, seller_tax_id,
                           seller_name, buyer_tax_id, buyer_name, status, status_changed_at,
                           "synced" if synced_at else "pending", synced_at or now, synced_at))  # as staged_row
        parsed.staged, parsed.batch = len(staged), encoded(staged, sqlite=sqlite) if staged else None
        yield parsed


def _read_in_worker(path: Path, now: datetime, sqlite: bool, tz: tzinfo, queue: Any, batch: int) -> None:
    """The reading process: batches into the queue (bounded: it waits while the importer writes), then None.

    `batch` is the importer's BATCH: a process a fork server started imported this module afresh."""
    global BATCH
    BATCH = batch
    try:
        for parsed in parsed_batches(path, now, sqlite, tz):
            queue.put(parsed)
        queue.put(None)
    except RowError as error:
        queue.put(error)
    except Exception as error:  # noqa: BLE001 - the importer reports it as a file it could not read
        logger.exception("reading %s failed", path)
        queue.put(RowError(f"the file could not be read ({type(error).__name__})", "unreadable", error=type(error).__name__))


def _reading_context() -> Any:
    """How the reading process starts.

    Forked where this process has one thread (the command line): nothing of it runs in the child but the
    reading, and spawn would import the caller's main module again, which a script without a __main__ guard
    cannot stand. A process with other threads (the bot, whose Telegram imports run in a thread of their
    own) must not fork: a lock another thread held at that moment (logging's, the allocator's) would stay
    held in the child for ever. There a fork server, started once, forks readers from a clean process.
    """
    methods = multiprocessing.get_all_start_methods()
    get = multiprocessing.get_context
    if "fork" in methods and threading.active_count() == 1:
        return get("fork")
    if "forkserver" in methods:
        context = get("forkserver")
        context.set_forkserver_preload(["assistant.importer"])
        return context
    return get("spawn")


async def _parsed(path: Path, now: datetime, sqlite: bool, tz: tzinfo) -> AsyncGenerator[Parsed, None]:
    """Batches of the file; a large one is read and checked in a process of its own, while this one writes
    the previous batch (the reading is most of an import's CPU)."""
    if path.stat().st_size < WORKER_FROM_BYTES:
        for parsed in parsed_batches(path, now, sqlite, tz):
            yield parsed
        return
    context = _reading_context()
    queue = context.Queue(maxsize=2)
    worker = context.Process(target=_read_in_worker, args=(path, now, sqlite, tz, queue, BATCH), daemon=True)
    worker.start()
    try:
        while True:
            item = await asyncio.to_thread(_next_from, queue, worker)
            if item is None:
                return
            if isinstance(item, RowError):
                raise item
            yield item
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        queue.close()


def _next_from(queue: Any, worker: Any) -> Any:
    while True:
        try:
            return queue.get(timeout=1)
        except Empty:
            if not worker.is_alive():
                return RowError(f"the file could not be read (the reading process ended: {worker.exitcode})", "unreadable",
                                error=f"exit {worker.exitcode}")


async def import_file(sessions: Callable[..., AsyncSession], path: Path, *, now: datetime, tz: tzinfo,
                      progress: Callable[[int], None] = lambda n: None) -> ImportReport:
    """Import a file: bad rows are reported by row, good rows imported; a second import changes nothing.

    The file is read row by row (a large one in a process of its own, which reads the next batch while
    this one is written) and written a batch at a time, one short transaction each (on SQLite the bot
    keeps writing meanwhile): staged by the backend's bulk path (COPY on PostgreSQL, executemany on
    SQLite), then merged into the invoices by set — a key repeated in the file is refused by the
    database's key, an invoice already stored is updated only when it changed. The statistics are
    refreshed after a large import. Memory holds a few batches: it does not grow with the file.
    """
    report = ImportReport()
    engine = sessions.kw["bind"]  # type: ignore[attr-defined]
    batches = _parsed(path, now, sqlite=engine.dialect.name == "sqlite", tz=tz)
    try:
        first = await anext(batches, None)  # a file that cannot be read fails here, before any writing
        async with engine.connect() as connection:
            async with _staging(connection, sessions) as staging:
                await staging.open()
            try:
                await _import(connection, sessions, first, batches, progress, report)
            finally:
                async with _staging(connection, sessions) as staging:
                    await staging.close()
    finally:
        await batches.aclose()
    return report


async def _import(connection: AsyncConnection, sessions: Callable[..., AsyncSession], head: Parsed | None,
                  batches: AsyncIterator[Parsed], progress: Callable[[int], None], report: ImportReport) -> None:
    async def every() -> AsyncIterator[Parsed]:
        if head is not None:
            yield head
        async for parsed in batches:
            yield parsed

    staged = 0
    async for parsed in every():  # the next batch is read meanwhile (a large file: in the reading process)
        merged = None
        if parsed.staged:
            async with _staging(connection, sessions) as staging:
                merged = await staging.merge(parsed.batch)
            staged += parsed.staged
            report.new += merged.new
            report.updated += merged.updated
        repeated = merged.repeated if merged else []
        errors = parsed.errors + [(line, repeated_key(code, number, earlier))
                                  for line, earlier, code, number in repeated]
        for index, reason in sorted(errors):
            report.reject(index, reason)
        refused = {line for line, *_ in repeated}
        for index, warning in parsed.warnings:
            if index not in refused:
                report.warn(index, [warning])
        staged -= len(repeated)
        report.rows += parsed.rows
        progress(parsed.rows)
    report.unchanged = staged - report.new - report.updated
    if report.new + report.updated >= ANALYZE_AFTER:
        async with _staging(connection, sessions) as staging:
            await staging.analyze()
