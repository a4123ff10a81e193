"""What an invoice file would import, without importing it: read in the isolated reader (an admin's file is
untrusted like any other), it gives the rows, the invoice families, the bad rows and the first rows.

Reasons name the columns as the file does (`in_file_terms`); everything returned is plain JSON, capped.
"""

from __future__ import annotations

import collections
import tempfile
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from assistant.importer import FileKindError, Reason, RowError, in_file_terms, parse_row, read_rows, repeated_key

PROBLEMS = 10
"""Bad rows a preview lists (the first ones); the rest are counted."""
FIRST = 3
"""Good rows a preview shows."""
TEXT = 120
"""Characters kept of any text taken from the file."""
TABLE_NAMES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")
TABLE_TYPES = ("text/csv", "text/tab-separated-values", "application/csv", "application/vnd.ms-excel",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def looks_like_table(kind: str, file_name: str, mime_type: str) -> bool:
    """Whether a document is meant as a table (by its name or type; what it holds is checked when read)."""
    return kind == "document" and (file_name.lower().endswith(TABLE_NAMES) or mime_type.lower() in TABLE_TYPES)


def _cut(value: Any) -> str:
    return str(value)[:TEXT]


def _said(reason: Reason) -> dict[str, Any]:
    """A reason as JSON, every text taken from the file cut."""
    return {"text": _cut(reason), "code": reason.code, "params": {k: _cut(v) for k, v in reason.params.items()}}


def preview_file(path: Path, *, now: datetime, tz: tzinfo) -> dict[str, Any]:
    """The preview of a file on disk: {"refused": why, ...} when it is not a table the importer reads."""
    try:
        rows, has_sync, columns = read_rows(path)
        counted = 0
        families: collections.Counter[str] = collections.Counter()
        problems: list[list[Any]] = []
        bad = 0
        first: list[dict[str, str]] = []
        seen: dict[tuple[str, str], int] = {}
        for index, row in rows:
            counted += 1
            try:
                record = parse_row(row, has_sync_column=has_sync, now=now, tz=tz)
            except RowError as error:
                reason = in_file_terms(error.reason, columns)
            else:
                earlier = seen.setdefault((record.code, record.number), index)
                if earlier == index:
                    families[record.kind] += 1
                    if len(first) < FIRST:
                        first.append({"row": str(index), "code": record.code, "number": record.number,
                                      "issue_date": record.issue_date.isoformat(), "total": str(record.total),
                                      "seller_name": _cut(record.seller_name), "status": record.status})
                    continue
                reason = repeated_key(record.code, record.number, earlier)
            bad += 1
            if len(problems) < PROBLEMS:
                problems.append([index, _said(reason)])
    except FileKindError as error:
        return {"refused": "xls" if error.kind == "xls" else "not_table", "kind": _cut(error.kind)}
    except RowError as error:
        return {"refused": "unreadable", "error": _said(error.reason)}
    return {"rows": counted, "good": counted - bad, "bad": bad, "problems": problems,
            "families": dict(families.most_common()), "first": first,
            "columns": [_cut(label) for label in columns.values()][:20]}


def preview_bytes(data: bytes, *, file_name: str, now: datetime, tz: tzinfo) -> dict[str, Any]:
    """The preview of a file's content (written to a temporary file: the importer reads from disk)."""
    suffix = Path(file_name).suffix[:8] if Path(file_name).suffix.isascii() else ""
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        return preview_file(Path(handle.name), now=now, tz=tz)
