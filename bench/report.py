"""Writes the results as Markdown (the report) plus the raw JSON beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write"]

TARGETS = """\
| target | value |
|---|---|
| round trip | p50 <= 2.0x and p99 <= 2.5x the plain stomp.py floor; >= 1.5x faster than python-socketio at p50 and p99 |
| fan-out long-poll, 1,000 clients, 20,000 deliveries/s | p99 <= 50 ms, 0 lost, gateway CPU per delivery <= 2x Nchan's long-poll |
| fan-out SSE and WebSocket, same size | p99 <= 25 ms, CPU per delivery <= Nchan's long-poll |
| bigger: 5,000 SSE or WebSocket clients over 2 replicas, 10 messages/s (50,000 deliveries/s) | p99 <= 100 ms, 0 lost; where the 2 cores run out |
| idle | 10,000 held long-polls, and 10,000 idle WebSockets, on one replica at <= 8 KiB per client |
| broker | queues and connections grow with replicas, not browsers |
| model-driven: the instrument at 20 changes/s, 1,000 clients over 2 replicas | long-poll p99 <= 100 ms, SSE p99 <= 50 ms, 0 lost |
| generated page, 10,000-item lists, Chromium | rendered within 1 s of joining; <= 5 ms of page work per further item change |
| chat at its 10,000-message cap, Chromium | a page joining shows the latest messages within 1 s; each new message shows within 50 ms at p99, as on an empty chat; gateway CPU per join independent of the history's length |
"""


#: hand-written analysis (profiles, gaps, plan) kept across runs and included in the full report
FINDINGS = Path(__file__).with_name("findings.md")


def write(path: Path, results: dict[str, Any], notes: str = "", *, findings: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(results, indent=2, sort_keys=True)
    path.with_suffix(".json").write_text(raw + "\n")
    m = results["machine"]
    lines = [
        "# traitsweb benchmarks",
        "",
        f"Written by `{results['command']}` at {results['finished']} ({results['config']} configuration, "
        f"{results['wall_s']} s). Do not edit by hand: `make bench` rewrites this file.",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    lines += [
        "## Machine",
        "",
        f"- {m['nproc']} CPUs: {m['cpu']}; {m['memory_gib']} GiB memory; {m['os']}, Linux {m['kernel']}",
        f"- load average at start: {m['loadavg_at_start']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        "",
        "## Targets (medians of the runs, same run as the peers)",
        "",
        TARGETS,
        "## Summary",
        "",
    ]
    lines += [f"- {line}" for line in results.get("summary", [])] or ["- (nothing measured)"]
    lines += ["", "## Results", ""]
    for name, section in results["sections"].items():
        lines += [f"### {name}", ""]
        if section.get("description"):
            lines += [section["description"], ""]
        if section.get("measured"):
            lines += [f"Measured {section['measured']}.", ""]
        runs = section.get("runs", [])
        if runs:
            lines += [f"{len(runs)} run(s); medians, with (min–max) when there are several. Load average before "
                      "each run: " + "; ".join(r.get("loadavg_before", "?") for r in runs) + ".", ""]
        lines += _table(section.get("rows", []), section.get("spread") if len(runs) > 1 else None)
        lines += [""]
    if findings and FINDINGS.exists():
        lines += [FINDINGS.read_text().strip(), ""]
    lines += [
        "## Method",
        "",
        "- Open loop: every send has an intended time (start + i / rate); latency is measured from the intended",
        "  time to the delivery, so a stall is charged to every send it delayed (no coordinated omission).",
        "- Latency per delivery goes into an HDR histogram (`hdrhistogram`, 3 significant digits); the first",
        "  warm-up seconds are sent but not recorded. Intended and achieved send rates are printed side by side.",
        "- CPU seconds come from `/proc/<pid>/stat` (utime + stime) of the gateway processes and of the load",
        "  generator itself; memory from `VmRSS` in `/proc/<pid>/status`.",
        "- Broker counts: `rabbitmqctl -n traitsweb-<stomp port>@localhost list_queues / list_connections`.",
        "- Peers, each alone on the machine (the previous system stopped): the plain stomp.py floor through the",
        "  stack's RabbitMQ node with nothing else running; Nchan in its own nginx (2 workers); python-socketio",
        "  (2 uvicorn replicas) with its own RabbitMQ node. The same open-loop sender, the same message text",
        "  (`bench <tag> <i> <intended time>`), the same readers' processes and latency definition; server CPU",
        "  from `/proc` of the peer's server processes over the same window as the gateways'.",
        "- Headline sections run several times (3 in `make bench`): a table shows the median of each figure (the",
        "  worst run for lost, errors and refused sends) with (min–max); the JSON keeps every run.",
        "",
        "## Raw numbers",
        "",
        f"Also in [`{path.with_suffix('.json').name}`]({path.with_suffix('.json').name}).",
        "",
        "```json",
        raw,
        "```",
        "",
    ]
    path.write_text("\n".join(lines))


def _table(rows: list[dict[str, Any]], spread: list[dict[str, list[float]]] | None = None) -> list[str]:
    if not rows:
        return ["(no rows)"]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for n, row in enumerate(rows):
        ranges = spread[n] if spread and n < len(spread) else {}
        cells = []
        for k in keys:
            cell = _cell(row.get(k, ""))
            low, high = ranges.get(k, (None, None))
            if low is not None and low != high:
                cell += f" ({_cell(low)}–{_cell(high)})"
            cells.append(cell)
        out.append("| " + " | ".join(cells) + " |")
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")
