"""docs/prometheus/alerts.yml is a rule file Prometheus would load (the checks promtool
makes on rules), on series activity-core exports, linking to runbook sections that exist,
and it pages when the series that prove the system is alive are absent."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "docs" / "prometheus" / "alerts.yml"
SOURCES = ("activity_core", "workflows", "activities")
CREATE = re.compile(r"create_(counter|gauge|gauge_float|histogram_timedelta)\(\s*\"([a-z_]+)\"")
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
PROMETHEUS_OWN = {"up"}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    rules: list[dict[str, Any]] = []
    names = [g["name"] for g in doc["groups"]]
    assert len(names) == len(set(names)), "group names must be unique"
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        rules += group["rules"]
    return rules


def _exported() -> set[str]:
    """Series names activity-core creates, as the Prometheus exporter names them."""
    out: set[str] = set()
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*.py"):
            for kind, name in CREATE.findall(path.read_text()):
                if kind == "counter":
                    out.add(f"{name}_total")
                elif kind == "histogram_timedelta":
                    out |= {f"{name}_seconds_{part}" for part in ("bucket", "count", "sum")}
                else:
                    out.add(name)
    return out


def _selectors(expr: str) -> tuple[list[str], list[str]]:
    """(every series name in ``expr``, the names inside ``absent(...)``)."""
    names: list[str] = []
    absent: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)
        if isinstance(node, promql_parser.Call) and node.func.name == "absent":
            absent.extend(_selectors(str(node.args[0]))[0])

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names, absent


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors of a markdown file."""
    out = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return out


def test_every_rule_is_well_formed_and_its_expression_parses() -> None:
    rules = _rules()
    assert len(rules) >= 8
    seen = set()
    for rule in rules:
        assert set(rule) <= RULE_KEYS, rule
        assert re.fullmatch(r"ActivityCore[A-Z][A-Za-z]+", rule["alert"]), rule["alert"]
        assert rule["alert"] not in seen, f"duplicate {rule['alert']}"
        seen.add(rule["alert"])
        promql_parser.parse(rule["expr"])  # raises on a syntax error
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        assert rule["labels"]["severity"] in {"page", "warn"}
        assert rule["annotations"]["summary"]


def test_rules_watch_series_activity_core_exports() -> None:
    exported = _exported()
    assert "activity_core_runs_total" in exported  # the scan itself works
    for rule in _rules():
        names, _ = _selectors(rule["expr"])
        assert names, rule["alert"]
        unknown = set(names) - exported - PROMETHEUS_OWN
        assert not unknown, f"{rule['alert']} watches {unknown}, which nothing exports"


def test_runbook_links_point_at_sections_that_exist() -> None:
    for rule in _rules():
        target = rule["annotations"]["runbook"]
        path, _, anchor = target.partition("#")
        doc = REPO / path
        assert doc.is_file(), f"{rule['alert']}: {path} does not exist"
        if anchor:
            assert anchor in _anchors(doc), f"{rule['alert']}: no section #{anchor} in {path}"


def test_the_series_that_prove_life_page_when_absent() -> None:
    guarded: dict[str, str] = {}
    for rule in _rules():
        for name in _selectors(rule["expr"])[1]:
            guarded[name] = rule["labels"]["severity"]
    for vital in (
        "up",
        "activity_core_watchdog_last_pass_timestamp_seconds",
        "activity_core_last_success_timestamp_seconds",
    ):
        assert guarded.get(vital) == "page", f"nothing pages when {vital} is absent"


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")
def test_promtool_loads_the_rules_and_they_page_only_for_what_can_fail() -> None:
    """Prometheus's own checker, and its rule tests (alerts_test.yml): a scheduled
    definition in force pages after 26 h without success; a manual or deleted one does not;
    a worker off the registry warns."""
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
