"""Repeated runs: a headline section runs N times; its table shows each figure's median with the min and max,
and the load average before each run is kept beside it."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

__all__ = ["repeat", "loadavg", "WORST"]

#: counts where the worst run is the figure to show (a loss in any run is a loss), not the median
WORST = ("lost", "client errors", "sends refused", "resets", "errors")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def repeat(times: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Call ``run`` ``times`` times (each returns ``{"rows": [...], ...}``); rows are matched by position.

    The result's ``rows`` hold the medians (the worst for :data:`WORST` counts), ``spread`` the
    ``[min, max]`` of every numeric cell, ``runs`` each run's own result and the load average before it."""
    runs = []
    for _ in range(times):
        load = loadavg()
        runs.append({"loadavg_before": load, **run()})
    tables = [r.get("rows", []) for r in runs]
    rows, spread = [], []
    for k in range(max(len(t) for t in tables)):
        cells = [t[k] for t in tables if k < len(t)]
        row: dict[str, Any] = {}
        ranges: dict[str, list[float]] = {}
        for key in dict.fromkeys(key for cell in cells for key in cell):
            values = [c[key] for c in cells if key in c]
            numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if numbers and len(numbers) == len(values):
                row[key] = max(numbers) if key in WORST else _median(numbers)
                ranges[key] = [min(numbers), max(numbers)]
            else:
                row[key] = values[0]
        rows.append(row)
        spread.append(ranges)
    out = {key: value for key, value in runs[-1].items() if key not in ("rows", "loadavg_before")}
    out.update(rows=rows, spread=spread, runs=runs, repeats=times)
    return out


def _median(values: list[float]) -> float:
    m = statistics.median(values)
    return round(m, 3) if isinstance(m, float) else m
