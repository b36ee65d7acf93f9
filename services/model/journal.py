"""The model's durable memory on the broker: a journal stream and a checkpoint stream.

Each committed transaction is one journal entry: its out messages (with their ``seq``), the ``msg_id`` of
each input it applied (a batch of inputs is one entry, one round trip) and the owner changes, numbered
``txn``. A commit is the entry's receipt *and* the entry read back from the stream in its place: entries
are applied in stream order, and an entry whose ``txn`` is not the next one is ignored by every reader.
So when two model processes write at once (one was only frozen and came back), exactly one entry wins
each ``txn``; the other writer sees its entry lost, never publishes what it held, and stops. That is
what makes "no ``seq`` is ever issued twice" hold.

Every process follows the journal on its own connection (a standby stays current), keeping the committed
state beside the live model. The end of a stream is found by sending a unique marker and reading until
it comes back. A checkpoint is the whole state at a ``txn`` and the journal offset of that entry; start-up
reads the newest checkpoint, then the journal after it. The ``epoch`` is in every entry: an empty journal
with no checkpoint gets a new one, written as the first entry (losing a local disk changes nothing).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from traitsweb import protocol
from traitsweb.broker import BrokerClient, BrokerUnavailable, Delivery
from traitsweb.state import apply_change

__all__ = ["JournalLost", "StreamStore", "Streams"]

#: out messages of the newest entries kept for a new active model to publish again: its predecessor may
#: have died between a commit and its publication (consumers skip the ``seq`` they have)
_RECENT = 64
#: seconds a journal frame waits for its receipt before it is sent again (:meth:`StreamStore._send`)
_RESEND = 2.0
#: entries the broker may hand a follower before it acknowledges them (a stream consumer needs a credit)
_PREFETCH = "500"


class JournalLost(RuntimeError):
    """The journal did not confirm a commit: another model is active, or the broker is gone."""


@dataclass(frozen=True)
class Streams:
    """Where the journal and checkpoints are written (exchanges) and read (the streams behind them)."""

    journal_write: str = protocol.JOURNAL_WRITE
    journal_read: str = protocol.JOURNAL
    checkpoints_write: str = protocol.CHECKPOINTS_WRITE
    checkpoints_read: str = protocol.CHECKPOINTS


@dataclass
class _Committed:
    """The state the journal says is committed, as of entry ``txn`` (at stream ``offset``)."""

    epoch: str | None = None
    txn: int = 0
    seq: int = 0
    offset: int = -1
    state: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    processed: OrderedDict[str, None] = field(default_factory=OrderedDict)


class StreamStore:
    """:class:`~services.model.store.Store`'s surface over the broker's streams; use it as a context manager.

    ``client`` is a connection of its own (not the one inputs arrive on): a commit waits for frames that
    arrive on this connection's receiver thread.
    """

    def __init__(
        self,
        client: BrokerClient,
        *,
        streams: Streams | None = None,
        keep_processed: int = 200_000,
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._streams = streams or Streams()
        self._keep_processed = keep_processed
        self._timeout = timeout
        self.writer = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._c = _Committed()
        self._markers: dict[str, Future[int]] = {}
        self._commits: dict[int, Future[bool]] = {}
        #: set when the journal skips a txn: entries the latest checkpoint needs are gone
        self._gap: str | None = None
        self._recent: deque[tuple[int, str]] = deque(maxlen=_RECENT)
        self.since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        #: the bytes of the latest checkpoint (0: none yet)
        self.checkpoint_size = 0
        #: transactions committed by :meth:`commit` since this object was made
        self.commits = 0

    # -- lifetime ---------------------------------------------------------------------
    def __enter__(self) -> StreamStore:
        checkpoint = self._first_checkpoint()
        if checkpoint is not None:
            self._c = _Committed(
                epoch=checkpoint["epoch"], txn=checkpoint["txn"], seq=checkpoint["seq"],
                offset=checkpoint["offset"], state=checkpoint["state"], owners=dict(checkpoint["owners"]),
                processed=OrderedDict.fromkeys(checkpoint["processed"]),
            )
        start = "first" if checkpoint is None else f"offset={checkpoint['offset'] + 1}"
        self._client.subscribe(
            self._streams.journal_read, self._on_entry, ack="client",
            headers={"x-stream-offset": start, "prefetch-count": _PREFETCH},
        )
        self.catch_up()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            for future in self._commits.values():
                if not future.done():
                    future.set_result(False)

    # -- Store's surface ------------------------------------------------------------------
    def load(self) -> tuple[str, int, dict[str, Any]]:
        """``(epoch, seq, state)`` as committed at the journal's end; a new epoch for an empty journal."""
        self.catch_up()
        if self._c.epoch is None:
            epoch = f"{int(time.time()):x}-{secrets.token_hex(4)}"
            try:
                self._append({"epoch": epoch, "messages": [], "msg_ids": [], "owners": {}})
            except JournalLost:
                if self._c.epoch is None:
                    raise
                # another model started the epoch first: take its epoch
        with self._lock:
            assert self._c.epoch is not None
            return self._c.epoch, self._c.seq, json.loads(json.dumps(self._c.state))

    def seen(self, msg_id: str) -> bool:
        with self._lock:
            return msg_id in self._c.processed

    def owners(self) -> dict[str, str]:
        with self._lock:
            return dict(self._c.owners)

    def recent(self) -> list[tuple[int, str]]:
        """The newest committed ``(seq, body)`` out messages, oldest first."""
        with self._lock:
            return list(self._recent)

    def commit(
        self, messages: list[tuple[int, str]], msg_ids: Sequence[str] = (), *,
        owners: dict[str, str | None] | None = None,
    ) -> None:
        """Append one transaction and wait until the journal shows it in its place; raises :class:`JournalLost`."""
        assert not isinstance(msg_ids, str), "msg_ids: a list of ids"
        if not messages and not msg_ids and not owners:
            return
        for _, text in messages:
            # what cannot be published (a lone surrogate is valid JSON but not UTF-8) must not be committed:
            # UnicodeEncodeError makes the frame a poison frame, rolled back and dead-lettered
            text.encode("utf-8")
        self._append({"epoch": self._c.epoch, "messages": messages, "msg_ids": list(msg_ids), "owners": owners or {}})
        self.commits += 1

    def checkpoint(self, seq: int, state: dict[str, Any]) -> None:
        """Save the whole state as of the last committed entry (``seq`` must be its)."""
        with self._lock:
            c = self._c
            if seq != c.seq or c.epoch is None:
                return  # not at a committed point (never the case under the service's lock)
            body = json.dumps(
                {"kind": "checkpoint", "epoch": c.epoch, "txn": c.txn, "seq": c.seq, "offset": c.offset,
                 "state": state, "owners": c.owners, "processed": list(c.processed)},
                separators=(",", ":"),
            )
        self._send(self._streams.checkpoints_write, body)
        self.since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        self.checkpoint_size = len(body)

    # -- the end of a stream ----------------------------------------------------------------
    def catch_up(self) -> int:
        """Read the journal up to a marker sent now: everything committed before this call is applied."""
        offset = self._marker(self._streams.journal_write)
        if self._gap is not None:
            raise JournalLost(self._gap)
        return offset

    def _marker(self, destination: str) -> int:
        marker = uuid.uuid4().hex
        future: Future[int] = Future()
        with self._lock:
            self._markers[marker] = future
        try:
            self._send(destination, json.dumps({"kind": "marker", "id": marker}))
            return future.result(self._timeout)
        except FutureTimeout:
            raise JournalLost(f"the journal marker did not come back within {self._timeout} s") from None
        finally:
            with self._lock:
                self._markers.pop(marker, None)

    def _first_checkpoint(self) -> dict[str, Any] | None:
        """The latest checkpoint, waiting for the streams: a node that just booted may open its STOMP
        listener before its streams are up (a SUBSCRIBE then gets ``not_found`` and the connection closes)."""
        deadline = time.monotonic() + self._timeout
        while True:
            if not self._client.wait_connected(max(deadline - time.monotonic(), 0.1)):
                raise JournalLost("no connection to the broker for the journal")
            try:
                return self._latest_checkpoint()
            except JournalLost:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # the client reconnects by itself; try again on the new connection

    def _latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest checkpoint (highest ``txn``): the last chunk first, then wider windows before the end."""
        found: list[dict[str, Any]] = []
        end = self._read_window("last", None, found)
        window = 64
        while not found and end > 0:
            self._read_window(f"offset={max(0, end - window)}", end, found)
            if end - window <= 0:
                break
            window *= 4
        return max(found, key=lambda cp: cp["txn"]) if found else None

    def _read_window(self, start: str, end: int | None, found: list[dict[str, Any]]) -> int:
        """Read the checkpoint stream from ``start`` to a marker (or to offset ``end``); the marker's offset."""
        marker = uuid.uuid4().hex
        done: Future[int] = Future()

        def on_frame(frame: Delivery) -> None:
            self._client.ack(frame)
            offset = int(frame.headers.get("x-stream-offset", "-1"))
            entry = json.loads(frame.body)
            if end is not None and offset >= end:
                if not done.done():
                    done.set_result(end)
                return
            if entry.get("kind") == "checkpoint":
                found.append(entry)
            elif entry.get("id") == marker and not done.done():
                done.set_result(offset)

        sub = self._client.subscribe(
            self._streams.checkpoints_read, on_frame, ack="client",
            headers={"x-stream-offset": start, "prefetch-count": _PREFETCH},
        )
        try:
            if end is None:
                self._send(self._streams.checkpoints_write, json.dumps({"kind": "marker", "id": marker}))
            return done.result(self._timeout)
        except FutureTimeout:
            raise JournalLost("the checkpoint stream did not answer") from None
        finally:
            self._client.unsubscribe(sub)

    # -- writing --------------------------------------------------------------------------
    def _append(self, entry: dict[str, Any]) -> None:
        future: Future[bool] = Future()
        with self._lock:
            txn = self._c.txn + 1
            self._commits[txn] = future
        body = json.dumps({"kind": "txn", "txn": txn, "writer": self.writer, **entry}, separators=(",", ":"))
        try:
            self._send(self._streams.journal_write, body)
            if not future.result(self._timeout):
                raise JournalLost(f"journal entry {txn} was taken by another model")
        except FutureTimeout:
            raise JournalLost(f"journal entry {txn} did not come back within {self._timeout} s") from None
        finally:
            with self._lock:
                self._commits.pop(txn, None)
        self.since_checkpoint += len(entry["messages"])
        self.bytes_since_checkpoint += len(body)

    def _send(self, destination: str, body: str) -> None:
        """Send until the broker's receipt comes, for up to the store's timeout.

        A frame sent while a stream's leader moves to another node may never be confirmed (seen on
        RabbitMQ 3.10 after a kill -9 of the leader's node: no receipt in 10 s, though the stream took new
        frames within a second), so it is sent again every :data:`_RESEND` seconds. A second copy changes
        nothing: readers ignore an entry whose ``txn`` is not the next one, and a marker already found.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                self._client.send(destination, body, headers={"persistent": "true", "content-type": "application/json"},
                                  timeout=max(min(_RESEND, deadline - time.monotonic()), 0.1))
                return
            except BrokerUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise JournalLost(f"the broker did not take a journal frame: {exc}") from exc
                self._client.wait_connected(max(deadline - time.monotonic(), 0.0))  # moving to another node

    # -- reading (the journal connection's receiver thread) -------------------------------
    def _on_entry(self, frame: Delivery) -> None:
        self._client.ack(frame)
        entry = json.loads(frame.body)
        offset = int(frame.headers.get("x-stream-offset", "-1"))
        with self._lock:
            if entry.get("kind") == "marker":
                future = self._markers.get(entry.get("id", ""))
                if future is not None and not future.done():
                    future.set_result(offset)
                return
            if entry.get("kind") != "txn":
                return
            c = self._c
            txn = entry["txn"]
            won = txn == c.txn + 1 and (entry["epoch"] == c.epoch or (c.epoch is None and txn == 1))
            if won:
                self._apply(entry, offset)
            elif txn > c.txn + 1 and self._gap is None:
                self._gap = f"the journal has no entry {c.txn + 1} (next: {txn}): it lost what the checkpoint needs"
            pending = self._commits.get(txn)
            if pending is not None and not pending.done() and (won or txn <= c.txn):
                pending.set_result(won and entry.get("writer") == self.writer)

    def _apply(self, entry: dict[str, Any], offset: int) -> None:
        c = self._c
        c.epoch = entry["epoch"]
        c.txn = entry["txn"]
        c.offset = offset
        for seq, body in entry["messages"]:
            self._recent.append((seq, body))
            message = json.loads(body)
            if message["type"] == "trait_change":
                apply_change(c.state, message)
            c.seq = seq
        msg_ids = entry.get("msg_ids")
        if msg_ids is None:  # an entry written before one could hold a batch of inputs: one msg_id, or null
            msg_ids = [] if entry.get("msg_id") is None else [entry["msg_id"]]
        for msg_id in msg_ids:
            c.processed[msg_id] = None
        while len(c.processed) > self._keep_processed:
            c.processed.popitem(last=False)
        for session, user in entry["owners"].items():
            if user is None:
                c.owners.pop(session, None)
            else:
                c.owners[session] = user
