"""A simulated lab instrument that samples by itself: ``traitsweb serve examples.instrument:create``.

While ``running``, the instrument takes a reading every 1/``rate`` seconds
(20 Hz) and keeps the last ``keep`` of them; the reading follows the
``setpoint`` with some lag, shaped by ``mode``. Once a second a worker thread
computes summary ``statistics`` of the readings off the model's lock (a stand-
in for a real analysis) and the result is applied on it. Clients steer the
instrument through the handler's ``setpoint``, ``mode`` and ``running``.
"""

from __future__ import annotations

import math
import random
import statistics as stats

from traits.api import Bool, ComparisonMode, Dict, Enum, Float, Instance, Int, List, Range, Str, observe

from traitsweb.background import Scheduler
from traitsweb.bridge import SessionHandler, SharedModel

__all__ = ["Instrument", "InstrumentHandler", "create", "summarise"]

LOW, HIGH = 0.0, 100.0
MODES = ("steady", "sine", "noise")


class Instrument(SharedModel):
    setpoint = Range(LOW, HIGH, 20.0, exposed=True, label="Setpoint", desc="the level the reading follows",
                     group="Settings", order=1)
    mode = Enum(*MODES, exposed=True, label="Mode", desc="how the reading moves around the setpoint",
                group="Settings", order=2)
    running = Bool(True, exposed=True, label="Running", desc="whether the instrument takes readings",
                   group="Settings", order=3)
    #: the last ``keep`` readings, oldest first
    readings = List(Float, exposed=True, label="Readings", group="Measurements", order=4)
    #: readings taken since the instrument was first started (dropped ones included)
    samples = Int(0, exposed=True, label="Samples", group="Measurements", order=5)
    #: mean, minimum, maximum and standard deviation of ``readings``, computed off the lock
    statistics = Dict(Str, Float, exposed=True, label="Statistics", group="Measurements", order=6)

    #: readings per second and how many are kept
    rate = Float(20.0)
    keep = Int(200)
    #: seconds between two computations of ``statistics``
    analysis_interval = Float(1.0)
    noise = Instance(random.Random, ())
    _scheduler = Instance(Scheduler)
    #: ``samples`` when ``statistics`` were last asked for
    _summarised = Int(-1)

    def start(self, scheduler: Scheduler) -> None:
        """Called by the model service once the saved state is loaded."""
        self._scheduler = scheduler
        scheduler.every(1.0 / self.rate, self.sample)
        scheduler.every(self.analysis_interval, self.analyse)

    def sample(self) -> None:
        """Take one reading (on the service's lock, like every scheduled callback)."""
        if not self.running:
            return
        self.readings.append(round(self._next_reading(), 4))
        if len(self.readings) > self.keep:
            del self.readings[0]  # published as an item change: index 0, one removed
        self.samples += 1

    def analyse(self) -> None:
        """Hand a copy of the readings to a worker; its summary is applied when it is done."""
        if self.readings and self.samples != self._summarised:
            self._summarised = self.samples
            self._scheduler.submit(summarise, list(self.readings), on_result=self._set_statistics)

    def _set_statistics(self, summary: dict[str, float]) -> None:
        self.statistics.update(summary)

    def _next_reading(self) -> float:
        last = self.readings[-1] if self.readings else self.setpoint
        level = last + (self.setpoint - last) * 0.2
        if self.mode == "sine":
            level = self.setpoint + 5.0 * math.sin(2 * math.pi * self.samples / (4 * self.rate))
        elif self.mode == "noise":
            level += self.noise.gauss(0.0, 2.0)
        return min(HIGH, max(LOW, level + self.noise.gauss(0.0, 0.05)))


def summarise(readings: list[float]) -> dict[str, float]:
    """What a slow analysis would return; runs on a worker thread, never touches the model."""
    return {
        "mean": round(stats.fmean(readings), 4),
        "min": min(readings),
        "max": max(readings),
        "stdev": round(stats.pstdev(readings), 4),
    }


class InstrumentHandler(SessionHandler):
    """What one client may set; Traits validates each write (a setpoint outside 0..100 is refused)."""

    model = Instance(Instrument)
    setpoint = Range(LOW, HIGH, 20.0, client=True, comparison_mode=ComparisonMode.none, label="Setpoint")
    mode = Enum(*MODES, client=True, comparison_mode=ComparisonMode.none, label="Mode")
    running = Bool(True, client=True, comparison_mode=ComparisonMode.none, label="Running")

    @observe("setpoint, mode, running")
    def _steer(self, event: object) -> None:
        setattr(self.model, event.name, event.new)  # type: ignore[attr-defined]


Instrument.handler_class = InstrumentHandler


def create() -> Instrument:
    return Instrument()
