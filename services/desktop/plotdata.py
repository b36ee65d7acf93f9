"""The arrays behind the desktop's plots, computed from a :class:`DesktopModel`.

Listeners on the model only mark what changed; :meth:`ChatPlotData.refresh`
(called by the owner after a batch of messages, and on a timer because time
moves) recomputes the arrays and hands them to the ``ArrayPlotData`` the
Chaco plots draw from. So a flood of messages costs one recomputation per
redraw, not one per message.

* ratings: how many participants gave 1, 2, 3, 4, 5 (``rating_levels``,
  ``rating_counts``) and each participant's rating (``participant_index``,
  ``participant_ratings``, ``participant_names``);
* over time, in ``buckets`` intervals of ``bucket_seconds`` ending now:
  messages per interval (``messages_per_bucket``) and the average rating at
  the end of each interval (``average_per_bucket``, NaN before the desktop
  knew it, or while nobody had rated). ``bucket_times`` are the intervals' starts
  in seconds from now (<= 0).
"""

from __future__ import annotations

import bisect
import time
from typing import Any

import numpy as np
from chaco.array_plot_data import ArrayPlotData
from traits.api import Array, Bool, Callable, Float, HasStrictTraits, Instance, Int, List, Str, observe

from .model import DesktopModel

__all__ = ["ChatPlotData", "RATING_LEVELS"]

RATING_LEVELS = np.arange(1, 6, dtype=float)


class ChatPlotData(HasStrictTraits):
    model = Instance(DesktopModel)
    clock = Callable(time.time)
    bucket_seconds = Float(10.0)
    buckets = Int(30)

    rating_levels = Array(value=RATING_LEVELS)
    rating_counts = Array(value=np.zeros(5))
    participant_names = List(Str)
    participant_index = Array(value=np.zeros(0))
    participant_ratings = Array(value=np.zeros(0))

    bucket_times = Array(value=np.zeros(0))
    messages_per_bucket = Array(value=np.zeros(0))
    average_per_bucket = Array(value=np.zeros(0))

    #: what the Chaco plots draw; updated by :meth:`refresh`
    plot_data = Instance(ArrayPlotData)
    #: bumped by every refresh that changed something (redraw when it changes)
    version = Int(0)

    _ratings_dirty = Bool(True)
    _messages_dirty = Bool(True)
    _last_bucket = Int(-1)
    #: (time, average rating) each time the average changed, oldest first
    _average_times = List(Float)
    _average_values = List(Float)

    @observe("model:connection_ratings.items, model:participants.items, model:connection_ratings, model:participants")
    def _mark_ratings(self, event: Any) -> None:
        self._ratings_dirty = True

    @observe("model:messages.items, model:messages")
    def _mark_messages(self, event: Any) -> None:
        self._messages_dirty = True

    @observe("model:average_rating, model:ready")
    def _record_average(self, event: Any) -> None:
        if self.model is None or not self.model.ready:
            return
        now = self.clock()
        if self._average_times and now <= self._average_times[-1]:
            self._average_values[-1] = self.model.average_rating
        else:
            self._average_times.append(now)
            self._average_values.append(self.model.average_rating)
        self._messages_dirty = True

    def _plot_data_default(self) -> ArrayPlotData:
        return ArrayPlotData(
            rating_levels=self.rating_levels,
            rating_counts=self.rating_counts,
            participant_index=self.participant_index,
            participant_ratings=self.participant_ratings,
            bucket_times=self.bucket_times,
            messages_per_bucket=self.messages_per_bucket,
            average_per_bucket=self.average_per_bucket,
        )

    def refresh(self) -> bool:
        """Recompute what changed (and the time axis when a new interval began); True if anything did."""
        now = self.clock()
        bucket = int(now // self.bucket_seconds)
        changed = False
        if self._ratings_dirty:
            self._ratings_dirty = False
            self._compute_ratings()
            changed = True
        if self._messages_dirty or bucket != self._last_bucket:
            self._messages_dirty = False
            self._last_bucket = bucket
            self._compute_time_series(now)
            changed = True
        if changed:
            self.version += 1
        return changed

    def _compute_ratings(self) -> None:
        ratings = dict(self.model.connection_ratings) if self.model else {}
        participants = dict(self.model.participants) if self.model else {}
        counts = np.zeros(5)
        for value in ratings.values():
            if 1 <= value <= 5:
                counts[value - 1] += 1
        rated = sorted(ratings, key=lambda session: (participants.get(session, "?"), session))
        self.rating_counts = counts
        self.participant_names = [participants.get(session, "?") for session in rated]
        self.participant_index = np.arange(1, len(rated) + 1, dtype=float)
        self.participant_ratings = np.array([float(ratings[s]) for s in rated])
        self.plot_data.update_data(
            rating_levels=self.rating_levels,
            rating_counts=counts,
            participant_index=self.participant_index,
            participant_ratings=self.participant_ratings,
        )

    def _compute_time_series(self, now: float) -> None:
        width, count = self.bucket_seconds, self.buckets
        # intervals aligned to whole multiples of the width, the last one holding "now"
        last_end = (int(now // width) + 1) * width
        ends = last_end - width * np.arange(count - 1, -1, -1)
        start = ends[0] - width
        per_bucket = np.zeros(count)
        for message in reversed(self.model.messages if self.model else []):
            when = float(message.get("time", 0.0))
            if when < start:
                break  # messages are in time order: the rest are older
            index = int((when - start) // width)
            if 0 <= index < count:
                per_bucket[index] += 1
        averages = np.full(count, np.nan)
        for i, end in enumerate(ends):
            at = bisect.bisect_right(self._average_times, min(end, now)) - 1
            if at >= 0 and self._average_values[at] > 0:
                averages[i] = self._average_values[at]
        self._forget_averages_before(start)
        self.bucket_times = (ends - width) - now
        self.messages_per_bucket = per_bucket
        self.average_per_bucket = averages
        self.plot_data.update_data(
            bucket_times=self.bucket_times,
            messages_per_bucket=per_bucket,
            average_per_bucket=averages,
        )

    def _forget_averages_before(self, start: float) -> None:
        # keep the last value before the window: it is the average at the window's start
        keep = bisect.bisect_right(self._average_times, start) - 1
        if keep > 0:
            del self._average_times[:keep]
            del self._average_values[:keep]
