"""`make bench-smoke`: the benchmark harness runs end to end on a tiny configuration.

Checks the report's shape and that nothing was lost; never timings (speed belongs to `make bench`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import ROOT

pytestmark = pytest.mark.stack

REPORT = ROOT / ".run" / "bench-smoke" / "benchmarks.md"


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    for path in (REPORT, REPORT.with_suffix(".json")):
        path.unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(REPORT.with_suffix(".json").read_text())


def test_report_is_well_formed(results: dict[str, Any]) -> None:
    text = REPORT.read_text()
    for heading in ("# traitsweb benchmarks", "## Machine", "## Summary", "## Results", "## Raw numbers"):
        assert heading in text
    assert results["machine"]["nproc"] >= 1 and results["machine"]["cpu"]
    assert {"model throughput", "round trip"} <= set(results["sections"])
    for name, section in results["sections"].items():
        assert section["rows"], f"section {name} has no rows"
        assert not section["description"].startswith("FAILED"), section["description"]
    assert not [e for e in results["errors"] if "skipped" not in e]


def test_every_latency_was_recorded(results: dict[str, Any]) -> None:
    latencies = [v for k, v in _walk(results["sections"]) if k.split(".")[-1].startswith("latency")]
    assert latencies
    for latency in latencies:
        assert latency["count"] > 0
        assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]


def test_no_message_was_lost(results: dict[str, Any]) -> None:
    lost = [(k, v) for k, v in _walk(results["sections"]) if k.endswith(".lost")]
    assert lost
    assert all(v == 0 for _, v in lost), lost
