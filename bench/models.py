"""Bench-only models, served with ``TRAITSWEB_MODEL=bench.models:<factory>`` (never by the product).

- :class:`StampedInstrument`: ``examples.instrument`` with a ``stamp`` trait, the wall-clock time
  (``time.time()``) at which each sample was taken, set last in the tick: a client computes the latency
  from the model's change to itself by reading its own clock (one clock on one machine).
- :class:`BigLists`: a numeric list (shown as a chart) and a list of objects (a table) of ``size`` items,
  each appended to (and trimmed at the front, keeping ``size``) ``rate`` times a second: the generated
  page's cost with a large state.
"""

from __future__ import annotations

import time

from traits.api import Dict, Float, Int, List

from examples.instrument import Instrument, InstrumentHandler
from traitsweb.background import Scheduler
from traitsweb.bridge import SessionHandler, SharedModel

__all__ = ["StampedInstrument", "BigLists", "QuickBench", "instrument", "page_full", "quick"]


class StampedInstrument(Instrument):
    #: ``time.time()`` when the last sample was taken (the tick's last change)
    stamp = Float(0.0, exposed=True)

    def sample(self) -> None:
        began = time.time()
        if not self.running:
            return
        super().sample()
        self.stamp = began


StampedInstrument.handler_class = InstrumentHandler


def instrument() -> StampedInstrument:
    return StampedInstrument()


class BigLists(SharedModel):
    values = List(Float, exposed=True, label="Values")
    rows = List(Dict, exposed=True, label="Rows")
    count = Int(0, exposed=True)
    size = Int(10_000)
    rate = Float(20.0)

    def start(self, scheduler: Scheduler) -> None:
        self.values = [float(k % 100) for k in range(self.size)]
        self.rows = [self._row(k) for k in range(self.size)]
        self.count = self.size
        scheduler.every(1.0 / self.rate, self.tick)

    def tick(self) -> None:
        """One item appended to each list and one dropped at its front: four item changes, one set."""
        k = self.count
        self.values.append(float(k % 100))
        del self.values[0]
        self.rows.append(self._row(k))
        del self.rows[0]
        self.count = k + 1

    @staticmethod
    def _row(k: int) -> dict[str, object]:
        return {"n": k, "name": f"item {k}", "value": float(k % 100)}


class BigListsHandler(SessionHandler):
    """Nothing to write: the lists change by themselves."""


BigLists.handler_class = BigListsHandler


class QuickBench(StampedInstrument):
    """The smoke run's one model for both sections: the stamped instrument and :class:`BigLists`' lists."""

    values = List(Float, exposed=True, label="Values")
    rows = List(Dict, exposed=True, label="Rows")
    count = Int(0, exposed=True)
    size = Int(100)
    _row = staticmethod(BigLists._row)

    def start(self, scheduler: Scheduler) -> None:
        self.values = [float(k % 100) for k in range(self.size)]
        self.rows = [BigLists._row(k) for k in range(self.size)]
        self.count = self.size
        super().start(scheduler)

    def sample(self) -> None:
        BigLists.tick(self)  # type: ignore[arg-type]  # the same traits, duck-typed
        super().sample()


QuickBench.handler_class = InstrumentHandler


def quick() -> QuickBench:
    return QuickBench()


def page_full() -> BigLists:
    return BigLists()
