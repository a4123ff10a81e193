"""Architecture rules that must keep holding."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSPORT_FREE = [ROOT / "flows", *[p for p in (ROOT / "assistant").rglob("*.py") if "adapters" not in p.parts]]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files() -> list[Path]:
    files: list[Path] = []
    for item in TRANSPORT_FREE:
        files.extend(item.rglob("*.py") if item.is_dir() else [item])
    return files


def test_core_and_flows_never_import_telegram() -> None:
    offenders = {str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.split(".")[0] == "telegram")
                 for path in _files()}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert len(_files()) > 10  # the rule looked at the real tree


def test_nothing_in_the_packages_reads_settings_at_import_time() -> None:
    """Only bot.py builds Settings; modules receive what they need."""
    for path in _files():
        source = path.read_text(encoding="utf-8")
        if path.name == "settings.py":
            continue
        assert "Settings(" not in source, path


def test_no_conversation_handler_or_pickle_persistence() -> None:
    for path in [*_files(), ROOT / "bot.py", *(ROOT / "assistant" / "adapters").glob("*.py")]:
        source = path.read_text(encoding="utf-8")
        for banned in ("ConversationHandler", "PicklePersistence"):
            assert banned not in source, f"{banned} in {path}"


def test_flows_import_nothing_from_assistant_but_the_domain() -> None:
    """flows/ are the product's design: they know the domain and the flow kit, never the core, store or rooms."""
    flow_files = sorted((ROOT / "flows").rglob("*.py"))
    offenders = {str(path.relative_to(ROOT)): sorted(n for n in _imports(path)
                                                    if n.split(".")[0] == "assistant"
                                                    and not n.startswith("assistant.domain"))
                 for path in flow_files}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert len(flow_files) >= 5


def test_only_the_flow_runner_saves_conversations() -> None:
    """One decider of conversation state: desks fire triggers through the runner, nothing writes the row."""
    sources = [*_files(), ROOT / "bot.py", *(ROOT / "assistant" / "adapters").glob("*.py")]
    savers = sorted(str(path.relative_to(ROOT)) for path in sources
                    if "conversations.save(" in path.read_text(encoding="utf-8"))
    assert savers == ["assistant/flow_runner.py"]


def test_a_message_is_routed_only_by_the_routing_table() -> None:
    """The core hands every message to `assistant/routing.py`; no handlers table or chain of its own."""
    core = (ROOT / "assistant" / "core.py").read_text(encoding="utf-8")
    assert "route(" in core and "self.handlers" not in core
    for path in _files():
        source = path.read_text(encoding="utf-8")
        if path.name != "routing.py":
            assert "ROUTES[" not in source and "def handler_for" not in source, path


def test_the_transport_calls_the_core_straight() -> None:
    """The inbox's worker calls the registered callback itself: no trip through python-telegram-bot's
    process_update, no results handed back in dicts keyed by update id."""
    sources = [ROOT / "bot.py", *(ROOT / "assistant" / "adapters").rglob("*.py")]
    for path in sources:
        source = path.read_text(encoding="utf-8")
        for banned in ("process_update", "_results[", "_albums[", "_answered"):
            assert banned not in source, f"{banned} in {path}"
