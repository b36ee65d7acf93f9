"""Latency recording: one HDR histogram per measurement, in microseconds."""

from __future__ import annotations

import math
import time
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["Latency", "percentile"]

_MAX_US = 120 * 1_000_000


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of a few values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


class Latency:
    """Records ``now - intended`` for every delivery after ``warmup_end`` (monotonic seconds)."""

    def __init__(self, *, warmup_end: float = 0.0) -> None:
        self.hist = HdrHistogram(1, _MAX_US, 3)
        self.warmup_end = warmup_end
        self.count = 0
        self.skipped = 0

    def record(self, intended: float, now: float | None = None) -> None:
        if intended < self.warmup_end:
            self.skipped += 1
            return
        now = time.monotonic() if now is None else now
        self.hist.record_value(min(max(1, int((now - intended) * 1e6)), _MAX_US))
        self.count += 1

    def summary(self) -> dict[str, Any]:
        if self.count == 0:
            return {"count": 0}
        ms = lambda us: round(us / 1000, 3)  # noqa: E731
        return {
            "count": self.count,
            "p50_ms": ms(self.hist.get_value_at_percentile(50)),
            "p90_ms": ms(self.hist.get_value_at_percentile(90)),
            "p99_ms": ms(self.hist.get_value_at_percentile(99)),
            "p999_ms": ms(self.hist.get_value_at_percentile(99.9)),
            "max_ms": ms(self.hist.get_max_value()),
        }
