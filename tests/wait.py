"""Bounded waits on a condition, for what no event announces (a process's files, another service's state).

Where a thread of the test itself makes the change, wait on its own ``threading.Condition`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float, what: str | Callable[[], str], interval: float = 0.05) -> T:
    """``condition()``'s first truthy result, checked every ``interval`` s; fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what() if callable(what) else what}")
        time.sleep(interval)
    return result
