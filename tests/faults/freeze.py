"""A process frozen (SIGSTOP) for a fault's length: what the freeze tests share."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

from runner.stack import Stack

#: how long a fault test keeps a broker node frozen (the issues' 30 s)
FREEZE = 30.0


@contextlib.contextmanager
def frozen(stack: Stack, program: str, seconds: float = FREEZE) -> Iterator[float]:
    """SIGSTOP ``program``; the block runs while it is frozen (given the monotonic time it was stopped), then
    the rest of ``seconds`` passes (the fault's length, not a wait for an event). SIGCONT in every case."""
    pid = stack.kill(program, signal.SIGSTOP)
    began = time.monotonic()
    try:
        yield began
        time.sleep(max(0.0, seconds - (time.monotonic() - began)))
    finally:
        os.kill(pid, signal.SIGCONT)
