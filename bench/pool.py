"""The load generator's reader processes: spawned once per size and kept warm for every measurement, so a
measurement's lead time is only the clients' connecting, not a Python start-up and its imports."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

__all__ = ["readers", "shutdown"]

#: the one pool and its size (a measurement with fewer jobs leaves the other processes idle)
_pool: list[tuple[int, ProcessPoolExecutor]] = []


def _warm() -> int:
    import bench.clients  # noqa: F401 - what the readers run, imported before the first measurement
    import bench.peer_clients  # noqa: F401

    time.sleep(0.2)  # held, so each warm-up task lands in its own process
    return os.getpid()


def readers(size: int) -> ProcessPoolExecutor:
    """A pool of at least ``size`` (and 2) spawned processes, every one started and its imports done."""
    if _pool and _pool[0][0] >= size:
        return _pool[0][1]
    shutdown()
    size = max(size, 2)
    pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"))
    pids: set[int] = set()
    for _ in range(20):  # a process that started first may take two warm-ups: again until each had one
        pids |= {f.result() for f in [pool.submit(_warm) for _ in range(size)]}
        if len(pids) == size:
            break
    _pool.append((size, pool))
    return pool


def shutdown() -> None:
    while _pool:
        _pool.pop()[1].shutdown()
