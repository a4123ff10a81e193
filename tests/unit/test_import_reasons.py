"""An import's reasons are said in the admin's language: every code the importer gives has its Chinese words."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path
from zoneinfo import ZoneInfo

from assistant import importer
from assistant.import_reasons import say
from assistant.importer import Reason, RowError, in_file_terms
from assistant.replies import Renderer

ROOT = Path(__file__).resolve().parents[2]
RENDERER = Renderer(ROOT / "replies", ZoneInfo("Asia/Shanghai"))
SOURCES = [ROOT / "assistant" / "importer.py", ROOT / "assistant" / "imports.py"]


def _codes() -> set[str]:
    """The codes given to RowError(text, code, …) and reason(text, code, …) (and FileKindError's)."""
    codes = set()
    for source in SOURCES:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("RowError", "reason", "__init__") and isinstance(node.args[1].value, str):
                    codes.add(node.args[1].value)
    return codes


def test_every_code_the_importer_gives_is_said_in_chinese() -> None:
    codes = _codes()
    assert {"money", "repeated", "not_a_table", "future", "internal", "unreadable"} <= codes  # the scan finds them
    for code in codes:
        values = {name: "x" for name in ("column", "raw", "row", "kinds", "hint", "amount_column", "amount", "total_column",
                                         "total", "tax_column", "tax", "limit", "code", "number", "date", "value",
                                         "columns", "error", "kind")}
        said = say(RENDERER, "zh", Reason("ENGLISH", code, values))
        assert said != "ENGLISH" and said and "ENGLISH" not in said, code
        assert say(RENDERER, "en", Reason("ENGLISH", code)) == "ENGLISH"


def test_a_reason_names_the_files_column_in_both_languages_and_survives_the_reading_process() -> None:
    error = RowError("issue_date 'x' is not a date", "date", column="issue_date", raw="x")
    reason = in_file_terms(pickle.loads(pickle.dumps(error)).reason, {"issue_date": "开票日期"})
    assert reason == "开票日期 'x' is not a date" and reason.params == {"column": "开票日期", "raw": "x"}
    assert pickle.loads(pickle.dumps(reason)).code == "date"
    assert say(RENDERER, "zh", reason) == "“开票日期”的值“x”不是日期"
    assert say(RENDERER, "en", reason) == "开票日期 'x' is not a date"
    assert say(RENDERER, "zh", {"text": "a <b> c", "code": "other"}) == "a <b> c"  # plain text, escaped by the reply
    assert importer.repeated_key("", "1" * 20, 3).params == {"code": "", "number": "1" * 20, "row": "3"}
