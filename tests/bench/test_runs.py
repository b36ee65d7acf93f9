"""Repeated headline sections: medians, the worst loss, min-max and the load average before each run, as the
report shows them (no stack: the aggregation and the rendering alone)."""

from __future__ import annotations

from pathlib import Path

from bench import compare, report
from bench.runs import repeat


def _runs(*rows: dict[str, object]) -> object:
    it = iter(rows)
    return lambda: {"description": "d", "rows": [next(it)]}


def test_three_runs_give_the_median_the_worst_loss_and_the_spread() -> None:
    out = repeat(3, _runs({"transport": "poll", "p99 ms": 40.0, "lost": 0},
                          {"transport": "poll", "p99 ms": 90.0, "lost": 2},
                          {"transport": "poll", "p99 ms": 50.0, "lost": 0}))
    assert out["repeats"] == 3 and len(out["runs"]) == 3
    assert all(len(r["loadavg_before"].split()) == 3 for r in out["runs"])
    assert out["rows"] == [{"transport": "poll", "p99 ms": 50.0, "lost": 2}]
    assert out["spread"][0]["p99 ms"] == [40.0, 90.0]
    assert out["description"] == "d"


def test_the_report_shows_median_min_max_and_each_load_average(tmp_path: Path) -> None:
    section = repeat(3, _runs({"p99 ms": 40.0}, {"p99 ms": 90.0}, {"p99 ms": 50.0}))
    results = {"command": "test", "finished": "now", "config": "test", "wall_s": 1,
               "machine": {"nproc": 2, "cpu": "x", "memory_gib": 1, "os": "os", "kernel": "k",
                           "loadavg_at_start": "1 1 1", "versions": {}},
               "sections": {"fan-out": section}, "summary": []}
    report.write(tmp_path / "b.md", results)
    text = (tmp_path / "b.md").read_text()
    assert "| 50 (40–90) |" in text
    assert "Load average before each run: " + "; ".join(r["loadavg_before"] for r in section["runs"]) in text


def test_the_comparison_puts_traitsweb_beside_each_peer_with_the_ratio() -> None:
    sections = {
        "round trip": {"rows": [{"path": "x (sender)", "p50 ms": 1.0}, {"path": "x (other)", "p50 ms": 2.0, "p99 ms": 4.0}]},
        "broker floor": {"rows": [{"p50 ms": 1.0, "p99 ms": 2.0}]},
        "fan-out": {"rows": [{"transport": "poll", "p99 ms": 30.0, "gateway cpu s / 1000 deliveries": 0.06, "lost": 0}]},
        "Nchan": {"rows": [{"measure": "fan-out", "transport": "poll", "p99 ms": 20.0,
                            "server cpu s / 1000 deliveries": 0.02, "lost": 0}]},
    }
    rows = compare.section(sections)["rows"]
    by = {(r["peer"], r["figure"]): r for r in rows}
    assert by[("plain stomp.py floor", "p50 ms")]["traitsweb / peer"] == 2.0
    assert by[("Nchan long-poll", "p99 ms")]["traitsweb / peer"] == 1.5
    assert by[("Nchan long-poll", "server cpu s / 1000 deliveries")]["traitsweb / peer"] == 3.0
    lines = compare.summary(sections)
    assert "round trip p50 traitsweb / plain stomp.py floor: 2x (target <= 2x): met" in lines
    assert "fan-out poll CPU per delivery traitsweb / Nchan long-poll: 3x (target <= 2x): NOT met" in lines


def test_a_partial_run_replaces_only_its_sections_and_each_says_when_it_was_measured() -> None:
    from bench.__main__ import _merged

    saved = {"finished": "monday", "commit": "aaa", "command": "make bench", "errors": ["scaling: RuntimeError: x", "fan-out: Boom: y"],
             "sections": {"model throughput": {"rows": [{"inputs_per_s": 1}]}, "fan-out": {"rows": [{"p99 ms": 9}]},
                          "scaling": {"rows": []}}}
    new = {"finished": "tuesday", "errors": [], "command": "make bench",
           "sections": {"fan-out": {"rows": [{"p99 ms": 5}], "measured": "tuesday, commit bbb"}}}
    merged = _merged(saved, new, ["fan-out"])
    assert list(merged["sections"]) == ["model throughput", "fan-out", "scaling", compare.TITLE]  # recomputed
    assert merged["sections"]["fan-out"] == new["sections"]["fan-out"]
    assert merged["sections"]["model throughput"]["measured"] == "monday, commit aaa"
    assert merged["errors"] == ["scaling: RuntimeError: x"]  # the re-run section's old error is gone
    assert merged["command"] == "make bench, then python -m bench --only 'fan-out'"
    assert _merged(merged, new, ["x"])["command"] == "make bench, then python -m bench --only 'fan-out', then python -m bench --only 'x'"
