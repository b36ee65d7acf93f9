"""Open-loop pacing: sends are scheduled by their intended time, never by the previous reply.

Latency is measured from the intended time, so a stalled system is charged for
every send it delayed (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

__all__ = ["schedule", "aschedule"]


def schedule(rate: float, seconds: float, *, start: float | None = None) -> Iterator[tuple[int, float]]:
    """Yield ``(i, intended)`` at ``rate`` per second for ``seconds``, sleeping until each intended time."""
    start = time.monotonic() if start is None else start
    for i in range(int(rate * seconds)):
        intended = start + i / rate
        delay = intended - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing a load generator, not synchronising
        yield i, intended


#: event-loop timers wake up to a millisecond late (epoll's resolution): the last stretch is slept precisely
_PRECISE = 0.002


async def aschedule(rate: float, seconds: float, *, start: float | None = None) -> AsyncIterator[tuple[int, float]]:
    """:func:`schedule` for a coroutine. The loop sleeps until ~2 ms before each intended time, then the
    thread sleeps the rest (blocking the loop that long), so a send is not charged the timer's lateness."""
    start = time.monotonic() if start is None else start
    for i in range(int(rate * seconds)):
        intended = start + i / rate
        delay = intended - time.monotonic()
        if delay > _PRECISE:
            await asyncio.sleep(delay - _PRECISE)
        delay = intended - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing a load generator, not synchronising
        yield i, intended
