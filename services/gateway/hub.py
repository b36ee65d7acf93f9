"""In-process fan-out: the replica's copy of the state and a ring buffer of recent out messages.

Every out message is decoded once (to update the :class:`~traitsweb.state.State`)
and kept as the JSON text it arrived as. A reply is built once per position:
every client that asks for "what came after ``since``" while the state is at
the same ``seq`` gets the same bytes, so 1,000 clients woken by one message
cost one encoding, not 1,000. Those shared replies are a small LRU bounded by
count and bytes, and a reply too big for an eighth of it (a position far
behind) is built on demand and not kept: one client asking for many distinct
positions cannot make the replica hold (buffer length)² bytes. Waiting clients are futures in one set that the
next message resolves: a waiter costs a future and a timer, no task, and
nothing per message until it wakes. Memory is bounded by the ring buffer and
the reply cache, whatever the clients do.

Older messages than the ring buffer holds come from the model's journal (:meth:`Hub.remember`, fed by
the replica's journal follower): a replica that just started, or a client whose ``since`` is behind
the buffer, is replayed from there, up to ``history_size`` messages, instead of being reset.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from traitsweb import protocol
from traitsweb.snapshot import DEFAULT_MAX_BYTES, bound_state, encoded_size
from traitsweb.state import Outcome, State

__all__ = ["Batch", "Hub", "Waiter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    to: str | None
    #: "" for a placeholder: a message to a session gateways do not serve
    text: str


@dataclass(frozen=True, slots=True)
class Batch:
    """What one client may see after ``since``: messages (``count`` of them) or a reset, as JSON
    ``text`` and its UTF-8 ``body``."""

    epoch: str
    seq: int
    count: int
    text: str
    body: bytes
    reset: bool = False


#: how long waiters are held for the rest of a change announced by ``more`` (seconds)
MORE_WAIT = 0.05
#: waits end at most this late (seconds): deadlines share one timer per slot of this length
TIMER_RESOLUTION = 0.05


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Waiter:
    """One client's wait for the hub's next change; :meth:`interrupt` ends a wait early (e.g. a disconnect)."""

    __slots__ = ("_hub", "_future", "interrupted")

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._future: asyncio.Future[None] | None = None
        self.interrupted = False

    async def wait(self, deadline: float) -> None:
        """Until the next message, a reset, :meth:`interrupt` or the loop time ``deadline``
        (rounded up to the hub's timer resolution, :data:`TIMER_RESOLUTION`)."""
        if self.interrupted:
            return
        hub = self._hub
        future = self._future = hub._loop.create_future()
        waiters = hub._waiters  # the set of this change: the next one starts a new set
        waiters.add(future)
        expiring = hub._expire_at(deadline, future)
        try:
            await future
        finally:
            expiring.discard(future)
            waiters.discard(future)
            self._future = None

    def interrupt(self) -> None:
        self.interrupted = True
        if self._future is not None:
            _resolve(self._future)


class Hub:
    def __init__(self, *, buffer_size: int, on_gap: Callable[[], None], reply_cache_count: int = 64,
                 reply_cache_bytes: int = 8 * 1024 * 1024, snapshot_max_bytes: int = DEFAULT_MAX_BYTES,
                 reorder_grace: float = 0.0, history_size: int = 0,
                 replay_wait: float = 0.0) -> None:
        self._loop = asyncio.get_running_loop()
        self.state = State()
        self._buffer: deque[_Entry] = deque(maxlen=buffer_size)
        #: committed out messages from the journal, by seq, oldest first (``epoch`` is theirs)
        self._history: OrderedDict[int, _Entry] = OrderedDict()
        self._history_epoch: str | None = None
        self._history_size = history_size
        #: until the history reaches the live state (or this loop time passes), a client the buffer cannot
        #: serve waits for the journal rather than being reset
        self._replay_until = self._loop.time() + replay_wait if history_size > 0 else 0.0
        self._caught_up = False
        #: out messages applied from the journal's history before the live feed brought them
        self.from_journal = 0
        self._on_gap = on_gap
        self._waiters: set[asyncio.Future[None]] = set()
        #: the wake-up that ends a wait for the rest of a change (``feed(more=True)``)
        self._held: asyncio.TimerHandle | None = None
        #: deadlines by timer slot: one loop timer per slot, however many waits end in it
        self._slots: dict[int, set[asyncio.Future[None]]] = {}
        #: replies built at the current position, by ``since`` (only those without private messages),
        #: least recently used first; bounded by count and by ``_cached_bytes``
        self._replies: OrderedDict[int, Batch] = OrderedDict()
        self._cache_count = reply_cache_count
        self._cache_bytes = reply_cache_bytes
        self._cached_bytes = 0
        self._reset_cache: Batch | None = None
        self._state_cache: tuple[str | None, int, str] | None = None
        #: the largest /api/state or reset body: long lists keep their newest items (``traitsweb.snapshot``)
        self._snapshot_max = snapshot_max_bytes
        #: how long a message ahead of the next ``seq`` waits for the ones before it before a gap is declared
        #: (0: at once). A durable quorum queue whose leader moved redelivers what its consumer had not
        #: acknowledged alongside newer messages, so on a cluster (``BrokerLink``) a few arrive out of order
        self._grace = reorder_grace
        self._early: dict[int, str] = {}
        self._early_max = buffer_size
        self._grace_timer: asyncio.TimerHandle | None = None

    @property
    def ready(self) -> bool:
        return self.state.ready

    @property
    def participants(self) -> dict[str, str]:
        return self.state.values.get("participants", {})

    @property
    def history_size(self) -> int:
        """The most journal messages kept (0: no replay from the journal)."""
        return self._history_size

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    # -- feeding (on the event loop) ----------------------------------------------------
    def feed(self, text: str, more: bool = False) -> None:
        """One out-topic message, as received; ``more``: the rest of its change follows at once (the frame's
        ``more`` header), so waiters wake at the last one (or :data:`MORE_WAIT` later, should it not come)."""
        message = _decoded(text, "out message")
        if message is None:
            return
        outcome = self.state.apply(message)
        if outcome is Outcome.APPLIED:
            self._append(message, text)
            if self._early:
                self._apply_early()
            if not more:
                self._wake()
            elif self._held is None:
                self._held = self._loop.call_later(MORE_WAIT, self._wake)
        elif outcome is Outcome.STALE:
            if not more and self._held is not None:  # e.g. the placeholder of the private message before it
                self._wake()
        elif outcome is Outcome.RESET:
            self._after_reset()
        elif outcome is Outcome.GAP:
            if self._fill_from_history():  # the journal has what the live feed skipped
                self.feed(text, more)
                return
            if self._grace and self.state.ready and message["epoch"] == self.state.epoch \
                    and len(self._early) < self._early_max:
                self._early[message["seq"]] = text  # maybe the ones before it are a moment behind
                if self._grace_timer is None:
                    self._grace_timer = self._loop.call_later(self._grace, self._grace_over)
                return
            log.info("gap before seq %s (we are at %s/%s): resynchronising", message["seq"], self.state.epoch, self.state.seq)
            self._on_gap()

    def _append(self, message: dict[str, Any], text: str) -> None:
        """Buffer an applied message; a placeholder (a desktop session's private message) holds its seq's
        place for nobody."""
        self._buffer.append(_Entry(message["seq"], message.get("to"),
                                   "" if message["type"] == protocol.PLACEHOLDER else text))

    def _fill_from_history(self) -> bool:
        """Apply, from the journal's history, the messages after the state's ``seq`` that the live feed has
        not brought (yet: it lags, or skipped them while a frozen broker node held them for our old
        connection); whether any was. Each is the committed out message itself, so the state and the buffer
        are the same as if the live feed had brought it (which then finds it stale); a private one stays its
        session's."""
        history = self._history
        if not history or self._history_epoch != self.state.epoch or self.state.seq + 1 not in history:
            return False
        filled = 0
        while (entry := history.get(self.state.seq + 1)) is not None:
            message = _decoded(entry.text, "journal message")
            if message is None or self.state.apply(message) is not Outcome.APPLIED:
                break
            self._buffer.append(entry)
            filled += 1
        self.from_journal += filled
        return filled > 0

    def _apply_early(self) -> None:
        """Feed the held messages that are next now; drop those the state has passed."""
        while (text := self._early.pop(self.state.seq + 1, None)) is not None:
            message = protocol.decode_out(text)  # checked when it arrived
            if self.state.apply(message) is Outcome.APPLIED:
                self._append(message, text)
        for seq in [seq for seq in self._early if seq <= self.state.seq]:
            del self._early[seq]
        if not self._early and self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        elif self._early and self._grace_timer is None:  # still not next: they wait again, for no longer
            self._grace_timer = self._loop.call_later(self._grace, self._grace_over)

    def _grace_over(self) -> None:
        self._grace_timer = None
        if self._early:
            log.info("gap before seq %s (we are at %s/%s): resynchronising", min(self._early), self.state.epoch,
                     self.state.seq)
            self._on_gap()  # the snapshot that answers it applies what is still held and beyond it

    def remember(self, epoch: str, messages: list[tuple[int, str]]) -> None:
        """Committed ``(seq, text)`` out messages read from the journal, in its order (older than the buffer's
        reach, or not: only what the buffer lacks is ever served from here)."""
        if self._history_size <= 0:
            return
        history = self._history
        if epoch != self._history_epoch:
            history.clear()
            self._history_epoch = epoch
        for seq, text in messages:
            if history and seq != next(reversed(history)) + 1:
                history.clear()  # not contiguous (the journal was read from a later point): start again
            history[seq] = _Entry(seq, protocol.recipient(text), text)
        while len(history) > self._history_size:
            history.popitem(last=False)
        # the journal ahead of the live feed (its queue's leader moving after a node died, a gap waiting for
        # its grace): each committed message counts from whichever of the two brings it first
        if self._fill_from_history():
            if self._early:
                self._apply_early()
            self._wake()
        if not self._caught_up:
            self._caught_up = bool(history) and self.state.ready and next(reversed(history)) >= self.state.seq
            self._wake()  # a client waiting for the journal may be served now

    def _replay_pending(self, since: int) -> bool:
        """Whether the journal may still bring what ``since`` needs (it is being read from its start point)."""
        if self._caught_up or self._loop.time() >= self._replay_until:
            return False
        history = self._history
        return not history or self._history_epoch != self.state.epoch or since + 1 >= next(iter(history))

    def _replayed(self, since: int, first: int) -> list[_Entry] | None:
        """The journal's messages ``since + 1 .. first - 1``, or None when it does not hold them all."""
        history = self._history
        if self._history_epoch != self.state.epoch or since + 1 not in history or first - 1 not in history:
            return None
        return [history[seq] for seq in range(since + 1, first)]

    def load_snapshot(self, text: str) -> None:
        message = _decoded(text, "snapshot")
        if message is None:
            return
        if message["type"] == "snapshot" and self.state.load(message) is Outcome.RESET:
            self._after_reset()
            if self._early:
                self._apply_early()
                self._wake()

    def _after_reset(self) -> None:
        # the buffer cannot bridge to the new state: clients behind it get a reset
        self._buffer.clear()
        log.info("state loaded at %s/%s", self.state.epoch, self.state.seq)
        self._wake()

    def _expire_at(self, deadline: float, future: asyncio.Future[None]) -> set[asyncio.Future[None]]:
        slot = math.ceil(deadline / TIMER_RESOLUTION)
        expiring = self._slots.get(slot)
        if expiring is None:
            expiring = self._slots[slot] = set()
            self._loop.call_at(slot * TIMER_RESOLUTION, self._expire, slot)
        expiring.add(future)
        return expiring

    def _expire(self, slot: int) -> None:
        for future in self._slots.pop(slot, ()):
            _resolve(future)

    def _wake(self) -> None:
        if self._held is not None:
            self._held.cancel()
            self._held = None
        self._replies.clear()
        self._cached_bytes = 0
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            _resolve(future)

    # -- reading ----------------------------------------------------------------------------
    def collect(self, since: int, epoch: str | None, session: str) -> Batch | None:
        """Messages after ``since`` for ``session``; None if there are none yet."""
        state = self.state
        assert state.epoch is not None
        if epoch != state.epoch or since < 0:
            return self._reset()
        if since >= state.seq:
            return None
        cached = self._replies.get(since)
        if cached is not None:
            self._replies.move_to_end(since)
            return cached
        first = self._buffer[0].seq if self._buffer else state.seq + 1
        if since + 1 < first:
            older = self._replayed(since, first)
            if older is None:
                return None if self._replay_pending(since) else self._reset()
            entries = [*older, *self._buffer]
        else:
            entries = list(islice(self._buffer, since + 1 - first, None))
        shared = all(e.to is None for e in entries)
        texts = [e.text for e in entries if e.text and (e.to is None or e.to == session)]
        text = f'{{"epoch":{json.dumps(state.epoch)},"seq":{state.seq},"messages":[{",".join(texts)}]}}'
        batch = Batch(state.epoch, state.seq, len(texts), text, text.encode())
        if shared:  # nobody's private message in it: every client at ``since`` gets these bytes
            self._keep(since, batch)
        return batch

    def answers_at_once(self, since: int, epoch: str | None) -> bool:
        """Whether a poll from ``since``/``epoch`` would be answered without waiting (it is behind, or
        needs a reset)."""
        state = self.state
        return state.ready and (epoch != state.epoch or since < state.seq)

    def _keep(self, since: int, batch: Batch) -> None:
        size = _size(batch)
        if size > self._cache_bytes // 8:
            return  # a position far behind: built again if asked again, never kept
        replies = self._replies
        replies[since] = batch
        self._cached_bytes += size
        while len(replies) > self._cache_count or self._cached_bytes > self._cache_bytes:
            _, evicted = replies.popitem(last=False)
            self._cached_bytes -= _size(evicted)

    async def wait(self, since: int, epoch: str | None, session: str, timeout: float,
                   waiter: Waiter | None = None) -> Batch:
        """Hold until there is something for ``session`` after ``since``, or ``timeout``
        (or until ``waiter`` is interrupted: then the reply is empty)."""
        loop = self._loop
        deadline = None  # the clock and the waiter only for a poll that waits: most are answered at once
        while True:
            if self.state.ready:
                batch = self.collect(since, epoch, session)
                if batch is not None and (batch.count or batch.reset):
                    return batch
                if batch is not None:
                    since = batch.seq  # only other sessions' private messages: skip past them
            if deadline is None:
                deadline = loop.time() + timeout
                waiter = waiter or Waiter(self)
            if loop.time() >= deadline:
                break
            await waiter.wait(deadline)
            if waiter.interrupted:
                break
        state = self.state
        if not state.ready:
            raise LookupError("no state yet")
        if epoch == state.epoch:
            # at the client's own position, also one ahead of ours: the client read it from a replica further on
            # (after a broker node's loss, replicas catch up at different times), and an epoch's seqs never go
            # back, so we will reach it; a reset would step the client's view back, then forward again
            text = f'{{"epoch":{json.dumps(state.epoch)},"seq":{max(since, 0)},"messages":[]}}'
            return Batch(state.epoch, max(since, 0), 0, text, text.encode())
        return self._reset()  # another epoch: the history the client knows is gone

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = Waiter(self)
        while not predicate():
            if loop.time() >= deadline:
                return False
            await waiter.wait(deadline)
        return True

    # -- the full state ---------------------------------------------------------------------
    def state_text(self) -> str:
        """The full state as JSON, encoded once per position."""
        state = self.state
        cached = self._state_cache
        if cached is None or cached[:2] != (state.epoch, state.seq):
            text = self._bounded({"epoch": state.epoch, "seq": state.seq, "state": {}, "schema": state.schema})
            cached = self._state_cache = (state.epoch, state.seq, text)
        return cached[2]

    def _reset(self) -> Batch:
        """The reset reply, encoded once per state position however many clients need it."""
        state = self.state
        assert state.epoch is not None
        cached = self._reset_cache
        if cached is None or (cached.epoch, cached.seq) != (state.epoch, state.seq):
            text = self._bounded({"reset": True, "epoch": state.epoch, "seq": state.seq, "state": {}})
            cached = self._reset_cache = Batch(state.epoch, state.seq, 0, text, text.encode(), reset=True)
        return cached


    def _bounded(self, reply: dict[str, object]) -> str:
        """``reply`` with the state in it, at most the snapshot maximum: long lists keep their newest items."""
        state = self.state
        reply["state"], truncated = bound_state(state.values, self._snapshot_max - encoded_size(reply), state.offsets)
        reply["truncated"] = truncated
        return protocol.encode(reply)

    # -- older items of a list --------------------------------------------------------------
    def history(self, trait: str, before: int, limit: int) -> tuple[int, list[object]]:
        """Up to ``limit`` items of list ``trait`` before absolute index ``before``, from what this replica
        holds: ``(absolute index of the first, items)``. Items older than it holds are not there."""
        items = self.state.values[trait]
        offset = self.state.offsets.get(trait, 0)
        end = max(offset, min(before, offset + len(items)))
        start = max(offset, end - limit)
        return start, items[start - offset : end - offset]


def _size(batch: Batch) -> int:
    """What a cached reply holds: its text and its bytes."""
    return sys.getsizeof(batch.text) + len(batch.body)


def _decoded(text: str, what: str) -> dict[str, Any] | None:
    """An out message from the broker, or None (logged) where it is malformed: one bad frame changes nothing."""
    try:
        return protocol.decode_out(text)
    except protocol.ProtocolError as exc:
        log.warning("ignored a malformed %s: %s", what, exc)
        return None
