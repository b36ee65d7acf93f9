"""Per-key token buckets (sends and polls per session, logins per address), bounded in memory.

Buckets live in one replica: behind ``n`` replicas a client that spreads its
requests gets up to ``n`` times the rate (nginx's ``limit_req`` bounds the sum).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from .errors import ApiError
from .hub import Hub

__all__ = ["PollThrottle", "RateLimiter", "Throttle"]


class RateLimiter:
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


class Throttle(RateLimiter):
    """A :class:`RateLimiter` whose refusal is the API's ``429 rate_limited`` with ``Retry-After``."""

    def __init__(self, rate: float, burst: int, *, what: str) -> None:
        super().__init__(rate, burst)
        self._what = what

    def check(self, key: str) -> None:
        wait = self.take(key)
        if wait:
            raise ApiError(429, "rate_limited", f"too many {self._what}", headers={"Retry-After": self.retry_after(wait)})


class PollThrottle(Throttle):
    """Limits the polls (and stream openings) a session makes that are answered at once: each builds a
    reply, while a wait costs almost nothing and a client that is behind catches up in one reply."""

    def __init__(self, rate: float, burst: int) -> None:
        super().__init__(rate, burst, what="polls answered at once")

    def poll(self, hub: Hub, session: str, since: int, epoch: str | None) -> None:
        if hub.answers_at_once(since, epoch):
            self.check(session)
