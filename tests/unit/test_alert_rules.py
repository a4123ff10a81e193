"""deploy/prometheus-alerts.yml parses, and every assistant_* metric it uses exists (so it cannot go stale)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from assistant.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def test_alert_rules_use_only_metrics_the_assistant_exports() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text(encoding="utf-8"))
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(expressions) >= 8 and all(rule.get("annotations", {}).get("summary")
                                         for group in rules["groups"] for rule in group["rules"])
    exported = {metric.name for metric in REGISTRY.collect()}  # without _total/_bucket/_count/_sum
    used = {re.sub(r"_(total|bucket|count|sum)$", "", name)
            for expr in expressions for name in re.findall(r"assistant_[a-z_]+", expr)}
    assert used and used <= exported, used - exported
