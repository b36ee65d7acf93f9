"""Per-key token buckets, bounded in memory: the gateway's limits per session and address, the model's per sender."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate`` tokens a second per key, at most ``burst`` saved up; the least recently used keys beyond
    ``max_keys`` are forgotten (a forgotten key starts again with a full bucket)."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 if allowed, else the seconds to wait before the next try."""
        now = time.monotonic()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)  # the least recently used key
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
