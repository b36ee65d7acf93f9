"""Changes a model makes by itself: periodic work and jobs that run off the lock.

A shared model that changes without a client's write (an instrument sampled at
20 Hz, a simulation that advances, a fit that takes a minute) defines
``start``; the model service calls it once, after the saved state is loaded,
with a :class:`Scheduler`::

    class Instrument(SharedModel):
        readings = List(Float, exposed=True)

        def start(self, scheduler: Scheduler) -> None:
            scheduler.every(0.05, self._sample)      # 20 Hz

        def _sample(self) -> None:
            self.readings.append(read_the_sensor())
            if len(self.readings) > 200:
                del self.readings[0]                 # travels as an item change

Every callback the scheduler runs (``every``, ``later``, and a job's
``on_result``/``on_error``) runs under the model service's lock, the one
client writes are applied under: model code needs no locks of its own, and
what a callback changes is journaled, numbered and published exactly like the
effects of a client's write, in one transaction per callback. A job given to
:meth:`Scheduler.submit` runs on a worker thread *off* that lock, so a long
computation never holds up clients; it must not touch the model: it gets
copies of what it needs as arguments and returns a result for ``on_result``
to apply (the pattern of traits-futures, with the service's lock in place of
the GUI thread).

Only effects are durable, not schedules: after a restart the state comes back
from the journal and ``start`` is called again, so a timer continues from
"now" and never re-applies a tick. Callbacks must not block (no waiting on a
job's future under the lock).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from traitsweb.lifetime import Lifetime

__all__ = ["Apply", "Handle", "Scheduler", "start_model"]

log = logging.getLogger(__name__)

T = TypeVar("T")
#: runs a callback on the owner's lock and makes its effects stick (the model service's ``apply_background``)
Apply = Callable[[Callable[[], None]], None]


@dataclass(order=True)
class _Entry:
    due: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    interval: float | None = field(compare=False)
    handle: Handle = field(compare=False)


class Handle:
    """A scheduled callback; :meth:`cancel` stops it (a callback already running finishes)."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler(Lifetime):
    """Runs a model's periodic callbacks and background jobs; see the module's docstring.

    ``apply`` runs one callback under the owner's lock. ``clock`` is
    monotonic seconds. Without :meth:`start` nothing runs by itself, and
    :meth:`run_due` runs what is due (how tests drive it with a fake clock).
    """

    def __init__(self, apply: Apply, *, clock: Callable[[], float] = time.monotonic, workers: int = 2) -> None:
        self._apply_callback = apply
        self._clock = clock
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._queue: list[_Entry] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        #: held while a callback is applied; closing takes it, so nothing is applied after close() returns
        self._gate = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- what model code calls ---------------------------------------------------------
    def every(self, interval: float, callback: Callable[[], None], *, delay: float | None = None) -> Handle:
        """Call ``callback`` every ``interval`` seconds, the first time after ``delay`` (default: one interval).

        Ticks keep to their grid; one that is late by more than an interval is
        skipped, not made up in a burst.
        """
        if not interval > 0:
            raise ValueError(f"interval must be > 0, not {interval!r}")
        return self._add(interval if delay is None else delay, callback, interval)

    def later(self, delay: float, callback: Callable[[], None]) -> Handle:
        """Call ``callback`` once, ``delay`` seconds from now (0: as soon as possible; safe from any thread)."""
        return self._add(delay, callback, None)

    def submit(
        self,
        job: Callable[..., T],
        /,
        *args: Any,
        on_result: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> Future[T]:
        """Run ``job(*args, **kwargs)`` on a worker thread, off the lock; then ``on_result(result)``
        (or ``on_error(exception)``) under it.

        The returned future is done once ``on_result``/``on_error`` has been
        applied. A failing job without ``on_error`` is logged.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="traitsweb-job")
            return self._pool.submit(self._job, job, args, kwargs, on_result, on_error)

    # -- what the owner calls ---------------------------------------------------------------
    def start(self) -> None:
        """Run due callbacks on a thread of their own until :meth:`close`."""
        self._thread = threading.Thread(target=self._loop, name="traitsweb-scheduler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop: no callback is applied once this returns; running jobs finish, their results are dropped."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        with self._gate:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def run_due(self) -> float | None:
        """Apply every callback that is due; the seconds until the next one (None: nothing scheduled)."""
        while True:
            with self._cond:
                while self._queue and self._queue[0].handle.cancelled:
                    heapq.heappop(self._queue)
                if self._closed or not self._queue:
                    return None
                now = self._clock()
                entry = self._queue[0]
                if entry.due > now:
                    return entry.due - now
                heapq.heappop(self._queue)
                if entry.interval is not None:
                    entry.due += entry.interval
                    if entry.due <= now:  # fell behind: skip the missed ticks
                        entry.due = now + entry.interval
                    entry.order = next(self._order)
                    heapq.heappush(self._queue, entry)
            self._apply(entry.callback)

    # -- inside --------------------------------------------------------------------------------
    def _add(self, delay: float, callback: Callable[[], None], interval: float | None) -> Handle:
        handle = Handle()
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            entry = _Entry(self._clock() + max(delay, 0.0), next(self._order), callback, interval, handle)
            heapq.heappush(self._queue, entry)
            self._cond.notify_all()
        return handle

    def _loop(self) -> None:
        while True:
            self.run_due()
            with self._cond:  # decided under the lock that _add notifies with, so no new entry is missed
                if self._closed:
                    return
                wait = self._queue[0].due - self._clock() if self._queue else None
                if wait is None or wait > 0:
                    self._cond.wait(wait)

    def _apply(self, callback: Callable[[], None]) -> bool:
        """Apply ``callback`` under the owner's lock unless closed; errors are logged, never raised."""
        with self._gate:
            if self._closed:
                return False
            try:
                self._apply_callback(callback)
            except Exception:
                log.exception("model callback %s failed", getattr(callback, "__qualname__", callback))
            return True

    def _job(
        self,
        job: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_result: Callable[[T], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> T:
        try:
            result = job(*args, **kwargs)
        except Exception as exc:
            if on_error is not None:
                self._apply(functools.partial(on_error, exc))
            else:
                log.warning("background job %s failed: %r", getattr(job, "__qualname__", job), exc)
            raise
        if on_result is not None:
            self._apply(functools.partial(on_result, result))
        return result


def start_model(model: object, scheduler: Scheduler) -> bool:
    """Call the model's ``start(scheduler)`` if it has one; False if the model never changes by itself."""
    start = getattr(model, "start", None)
    if not callable(start):
        return False
    start(scheduler)
    return True
