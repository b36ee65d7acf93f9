"""`make bench-smoke`: the benchmark harness runs end to end on a tiny configuration, traitsweb and every peer;
and, in a run of its own (a 3-node cluster takes ~50 s to boot), its cluster section.

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
#: the sections run several times in `make bench` (once in the smoke run), each with its runs' load averages
HEADLINE = ("broker floor", "round trip", "fan-out", "Nchan", "python-socketio")
#: (section, measure, transport) every peer reports, as the comparison pairs them with traitsweb
PEER_ROWS = [
    ("Nchan", "round trip", "poll"), ("Nchan", "fan-out", "poll"), ("Nchan", "fan-out", "sse"),
    ("python-socketio", "round trip", "poll"), ("python-socketio", "fan-out", "poll"),
    ("python-socketio", "fan-out", "ws"),
]


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _smoke(*args: str) -> dict[str, Any]:
    for path in (REPORT, REPORT.with_suffix(".json")):
        path.unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=290)
    assert run.returncode == 0, run.stderr[-4000:]
    results: dict[str, Any] = json.loads(REPORT.with_suffix(".json").read_text())
    return results


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return _smoke()


def test_the_smoke_run_leaves_the_cluster_out(results: dict[str, Any]) -> None:
    assert "cluster" not in results["sections"]


def test_report_is_well_formed(results: dict[str, Any]) -> None:
    text = REPORT.read_text()
    for heading in ("# traitsweb benchmarks", "## Machine", "## Summary", "## Results", "## Raw numbers",
                    "### traitsweb beside the peers"):
        assert heading in text
    assert results["machine"]["nproc"] >= 1 and results["machine"]["cpu"]
    assert {"model throughput", *HEADLINE, "traitsweb beside the peers", "model-driven", "generated page",
            "chat at cap", "bigger", "idle capacity"} <= set(
        results["sections"])
    for name, section in results["sections"].items():
        assert section["rows"], f"section {name} has no rows"
        assert not section["description"].startswith("FAILED"), section["description"]
    assert not results["errors"]


def test_headline_sections_keep_each_run_and_its_load_average(results: dict[str, Any]) -> None:
    for name in HEADLINE:
        section = results["sections"][name]
        assert section["repeats"] == len(section["runs"]) >= 1
        for run in section["runs"]:
            assert len(run["loadavg_before"].split()) == 3
            assert len(run["rows"]) == len(section["rows"])
        assert all(isinstance(row.get("load generator cpu s"), (int, float)) for row in section["rows"]
                   if row.get("transport") != "broker"), name


def test_every_peer_was_measured_and_compared(results: dict[str, Any]) -> None:
    sections = results["sections"]
    for name, measure, transport in PEER_ROWS:
        row = next((r for r in sections[name]["rows"] if r["measure"] == measure and r["transport"] == transport), None)
        assert row is not None, (name, measure, transport)
        assert row["p50 ms"] > 0 and row["server cpu s / 1000 deliveries"] >= 0
        assert row["client errors"] == 0 and row["sends refused"] == 0, row
    floor = sections["broker floor"]["rows"][0]
    assert floor["recorded"] > 0 and floor["lost"] == 0
    compared = {(r["measure"], r["traitsweb transport"], r["peer"]) for r in sections["traitsweb beside the peers"]["rows"]}
    assert compared == {
        ("round trip", "long-poll", "plain stomp.py floor"), ("round trip", "long-poll", "Nchan long-poll"),
        ("round trip", "long-poll", "python-socketio polling"), ("fan-out", "poll", "Nchan long-poll"),
        ("fan-out", "poll", "python-socketio polling"), ("fan-out", "sse", "Nchan EventSource"),
        ("fan-out", "ws", "python-socketio WebSocket"),
    }
    for row in sections["traitsweb beside the peers"]["rows"]:
        if row["figure"] in ("p50 ms", "p99 ms"):
            assert row["traitsweb / peer"] == pytest.approx(row["traitsweb"] / row["peer's"], abs=0.01), row


def test_every_latency_was_recorded(results: dict[str, Any]) -> None:
    latencies = [v for k, v in _walk(results["sections"]) if k.split(".")[-1].startswith("latency")]
    assert latencies
    for latency in latencies:
        assert latency["count"] > 0
        assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    for name in ("Nchan", "python-socketio"):  # the peers' rows carry their percentiles flat
        for row in results["sections"][name]["rows"]:
            assert 0 < row["p50 ms"] <= row["p99 ms"] <= row["max ms"], (name, row)


def test_the_model_driven_and_page_sections_measured_something(results: dict[str, Any]) -> None:
    driven = results["sections"]["model-driven"]["rows"]
    assert [r["transport"] for r in driven] == ["poll", "sse"]
    assert all(r["recorded"] > 0 and r["client errors"] == 0 for r in driven), driven
    page = results["sections"]["generated page"]["rows"]
    assert [r["transport"] for r in page] == ["poll", "sse"]
    assert all(r["joined to rendered ms"] > 0 and r["changes measured (item changes and sets)"] > 0 for r in page), page


def test_the_chat_at_cap_section_timed_joins_and_messages(results: dict[str, Any]) -> None:
    started, bounded, filled = results["sections"]["chat at cap"]["rows"]
    assert filled["messages in the state"] > bounded["messages in the state"] > started["messages in the state"]
    for row in (started, bounded, filled):
        assert row["page join ms p50"] > 0 and row["new messages timed"] > 0, row
        assert 0 < row["new message ms p50"] <= row["new message ms p99"], row


def test_no_message_was_lost(results: dict[str, Any]) -> None:
    lost = [(k, v) for k, v in _walk(results["sections"]) if k.endswith(".lost") and ".spread" not in k]
    assert {name for name in HEADLINE if any(k.startswith(f".{name}.") for k, _ in lost)} == set(HEADLINE)
    assert all(v == 0 for _, v in lost), lost


def test_the_cluster_section_runs_on_its_own() -> None:
    """``python -m bench --quick --only cluster``: one node and 3, the round trip on each, the fan-out on 3."""
    section = _smoke("--only", "cluster")["sections"]["cluster"]
    assert not section["description"].startswith("FAILED"), section["description"]
    trips = {row["brokers"]: row for row in section["rows"] if row.get("path")}
    assert set(trips) == {1, 3} and all(row["recorded"] > 0 and row["lost"] == 0 for row in trips.values()), trips
    fanout = [row for row in section["rows"] if row.get("transport") in ("poll", "sse", "ws")]
    assert {row["transport"] for row in fanout} == {"poll", "sse", "ws"}
    assert all(row["brokers"] == 3 and row["lost"] == 0 and row["resets"] == 0 for row in fanout), fanout
    assert "x the single node's" in section["summary"][0]
