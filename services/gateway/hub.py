"""In-process fan-out: the replica's copy of the state and a ring buffer of recent out messages.

Every out message is decoded once (to update the :class:`~traitsweb.state.Mirror`)
and kept as the JSON text it arrived as, so a reply to any number of clients
joins pre-encoded texts instead of encoding per client. Held polls, SSE
streams and WebSockets all wait on one event that is replaced with every
message: a waiting client costs a coroutine and nothing per message until it
wakes. Memory is bounded by the ring buffer, whatever the clients do.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from traitsweb import protocol
from traitsweb.state import Mirror, Outcome

__all__ = ["Batch", "Hub"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    seq: int
    to: str | None
    text: str


@dataclass(frozen=True)
class Batch:
    """What one client may see after ``since``: either messages, or a reset with the full state."""

    epoch: str
    seq: int
    texts: list[str]
    reset: bool = False

    def encode(self, hub: Hub) -> str:
        if self.reset:
            return hub.reset_text()
        return f'{{"epoch":{json.dumps(self.epoch)},"seq":{self.seq},"messages":[{",".join(self.texts)}]}}'


class Hub:
    def __init__(self, *, buffer_size: int, on_gap: Callable[[], None]) -> None:
        self.mirror = Mirror()
        self._buffer: deque[_Entry] = deque(maxlen=buffer_size)
        self._on_gap = on_gap
        self._tick = asyncio.Event()
        self._reset_cache: tuple[tuple[str | None, int], str] | None = None
        self.delivered = 0

    @property
    def ready(self) -> bool:
        return self.mirror.ready

    @property
    def participants(self) -> dict[str, str]:
        return self.mirror.state.get("participants", {})

    # -- feeding (on the event loop) ----------------------------------------------------
    def feed(self, text: str) -> None:
        """One out-topic message, as received."""
        try:
            message = protocol.decode_out(text)
        except protocol.ProtocolError as exc:
            log.warning("ignored a malformed out message: %s", exc)
            return
        outcome = self.mirror.feed(message)
        if outcome is Outcome.APPLIED:
            self._buffer.append(_Entry(message["seq"], message.get("to"), text))
            self._wake()
        elif outcome is Outcome.RESET:
            self._after_reset()
        elif outcome is Outcome.GAP:
            log.info("gap before seq %s (we are at %s/%s): resynchronising", message["seq"], self.mirror.epoch, self.mirror.seq)
            self._on_gap()

    def load_snapshot(self, text: str) -> None:
        try:
            message = protocol.decode_out(text)
        except protocol.ProtocolError as exc:
            log.warning("ignored a malformed snapshot: %s", exc)
            return
        if message["type"] == "snapshot" and self.mirror.load(message) is Outcome.RESET:
            self._after_reset()

    def _after_reset(self) -> None:
        # the buffer cannot bridge to the new state: clients behind it get a reset
        self._buffer.clear()
        log.info("state loaded at %s/%s", self.mirror.epoch, self.mirror.seq)
        self._wake()

    def _wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    # -- reading ----------------------------------------------------------------------------
    def collect(self, since: int, epoch: str | None, session: str) -> Batch | None:
        """Messages after ``since`` for ``session``; None if there are none yet."""
        mirror = self.mirror
        assert mirror.epoch is not None
        if epoch != mirror.epoch or since < 0:
            return Batch(mirror.epoch, mirror.seq, [], reset=True)
        if since >= mirror.seq:
            return None
        first = self._buffer[0].seq if self._buffer else mirror.seq + 1
        if since + 1 < first:
            return Batch(mirror.epoch, mirror.seq, [], reset=True)
        texts = [e.text for e in islice(self._buffer, since + 1 - first, None) if e.to is None or e.to == session]
        return Batch(mirror.epoch, mirror.seq, texts)

    async def wait(self, since: int, epoch: str | None, session: str, timeout: float) -> Batch:
        """Hold until there is something for ``session`` after ``since``, or ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            tick = self._tick
            if self.mirror.ready:
                batch = self.collect(since, epoch, session)
                if batch is not None and (batch.texts or batch.reset):
                    self.delivered += len(batch.texts)
                    return batch
                if batch is not None:
                    since = batch.seq  # only other sessions' private messages: skip past them
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(tick.wait(), remaining)
            except TimeoutError:
                break
        mirror = self.mirror
        if not mirror.ready:
            raise LookupError("no state yet")
        if epoch == mirror.epoch and since <= mirror.seq:
            return Batch(mirror.epoch, max(since, 0), [])
        return Batch(mirror.epoch, mirror.seq, [], reset=True)  # a position this replica never reached

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            tick = self._tick
            try:
                await asyncio.wait_for(tick.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    # -- the full state ---------------------------------------------------------------------
    def state_text(self) -> str:
        mirror = self.mirror
        return protocol.encode({"epoch": mirror.epoch, "seq": mirror.seq, "state": mirror.state})

    def reset_text(self) -> str:
        """The reset reply, encoded once per state position however many clients need it."""
        mirror = self.mirror
        key = (mirror.epoch, mirror.seq)
        if self._reset_cache is None or self._reset_cache[0] != key:
            body = {"reset": True, "epoch": mirror.epoch, "seq": mirror.seq, "state": mirror.state}
            self._reset_cache = (key, protocol.encode(body))
        return self._reset_cache[1]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.mirror.epoch, "seq": self.mirror.seq, "state": self.mirror.state}
