"""Per-key token buckets (sends and polls per session, logins per address), bounded in memory.

Buckets live in one replica: behind ``n`` replicas a client that spreads its
requests gets up to ``n`` times the rate (nginx's ``limit_req`` bounds the sum).
"""

from __future__ import annotations

from traitsweb.ratelimit import RateLimiter

from .errors import ApiError
from .hub import Hub

__all__ = ["PollThrottle", "RateLimiter", "Throttle"]


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
