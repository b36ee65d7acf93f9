"""The model service's loop: frames in, model changes out, acknowledged after they stick.

stomp.py's receiver thread only queues each frame; one applier thread (owned by the service's
``with`` block) takes every frame queued by then as one batch: it applies them in order, commits their
out messages, owner changes and ``msg_id``s in one transaction (one disk flush for the batch), publishes
the messages in ``seq`` order and only then acknowledges the frames. While it flushes, the next frames
queue up (at most ``prefetch`` per queue), so the flush is shared by however many arrived meanwhile; a
lone frame is applied as soon as it arrives, no timer holds it back. The hand-off costs a thread
wake-up when the applier was idle (a median of ~25 µs measured on our 2-core machine, against ~0.35 ms
for the flush of a one-input transaction); under load the applier is rarely idle and the flush is shared.
One lock makes the model, the store and the sequence numbers single-threaded, shared with the caller of
:meth:`ModelService.run`, which publishes snapshots after reconnects, logs idle sessions out and
checkpoints, and with model code that changes by itself. A crash at any point either loses the
unacknowledged frames to a redelivery (applied once, thanks to ``msg_id``) or leaves committed changes
that the snapshot published at the next start carries to every consumer.

Each frame names its sender (``user-id``, validated by the broker); :class:`Access`
decides which sessions that sender may act for. A frame that fails in any
other way than a protocol error (a value SQLite cannot store, a full disk) is
a poison frame: what the batch applied before it is committed, published and acknowledged, the model
goes back to that committed state, as a restart would, rejects the frame to the broker's dead-letter
queue and goes on with the frames after it. A batch whose commit fails is committed frame by frame to
find the frame that fails alone.

With the journal on the broker (:mod:`.journal`) several model processes may run: each waits for the
lease (the single active consumer of a quorum queue, which the broker hands to the next process when
the holder's connection ends), then catches up to the journal's end and only then takes inputs and runs
timers. A commit the journal does not confirm, or the loss of the connection while active, stops the
process (supervisord restarts it as a standby): it never goes on from memory the journal may not hold.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from traitsweb import protocol
from traitsweb.bridge import Bridge, BridgeError, SharedModel
from traitsweb.broker import BrokerUnavailable, Delivery, StompClient
from traitsweb.ratelimit import RateLimiter
from traitsweb.snapshot import bound_state, encoded_size

from .access import Access
from .config import ModelSettings
from .journal import JournalLost, StreamStore
from .store import Store

__all__ = ["ModelService"]

log = logging.getLogger(__name__)

_CONNECTED = object()

#: one out message's frames: (destination, body, headers)
Frames = list[tuple[str, str, dict[str, str]]]


@dataclass
class _Applied:
    """One frame applied in memory and not yet committed: what it changed, and what to send once it is."""

    kind: str
    frame: Delivery
    msg_id: str | None = None
    pending: list[tuple[int, str]] = field(default_factory=list)
    owners: dict[str, str | None] = field(default_factory=dict)
    #: its out messages' frames, addressed when the frame was applied (a private one by its session's owner then)
    sends: list[tuple[int, Frames]] = field(default_factory=list)
    #: reply queues that asked for a snapshot: answered once the batch is committed (a snapshot shows no
    #: uncommitted change)
    snapshots: list[str] = field(default_factory=list)


class _Poison(Exception):
    """A frame failed to apply; ``__cause__`` says why."""


class ModelService:
    def __init__(self, settings: ModelSettings, model: SharedModel, store: Store | StreamStore) -> None:
        self.settings = settings
        self.store = store
        self.epoch, self.seq, state = store.load()
        self._pending: list[tuple[int, str]] = []
        #: the ``seq`` of each pending message private to a session, and that session
        self._private: dict[int, str] = {}
        #: owner changes not yet committed: session -> user, or None when the session ended
        self._owner_changes: dict[str, str | None] = {}
        self.bridge = Bridge(model, self._emit)
        self.bridge.restore(state)
        self.access = Access(
            gateways=settings.gateway_users, desktops=settings.desktop_users, owners=store.owners(),
            desktop_sessions_max=settings.desktop_sessions_max,
        )
        #: snapshot requests per sending user: each answer costs an encoding of up to snapshot_max_bytes
        self._snapshot_limits = {
            "gateway": RateLimiter(settings.gateway_snapshot_rate, settings.gateway_snapshot_burst),
            "desktop": RateLimiter(settings.desktop_snapshot_rate, settings.desktop_snapshot_burst),
        }
        #: reconnections to answer with a snapshot (from the broker client's supervisor thread)
        self._inbox: queue.Queue[Any] = queue.Queue()
        #: frames from the receiver thread for the applier thread; None stops it
        self._frames: queue.SimpleQueue[tuple[str, Delivery] | None] = queue.SimpleQueue()
        self._applier: threading.Thread | None = None
        #: snapshot requests of the frame being applied (moved into its :class:`_Applied`)
        self._snapshots: list[str] = []
        #: the ``msg_id``s applied in the batch and not yet committed: a retried send may be in the same batch
        self._uncommitted: set[str] = set()
        self._lock = threading.Lock()
        now = time.monotonic()
        self._last_seen = {session: now for session in self.bridge.handlers}
        self._client: StompClient | None = None
        #: out messages published but not yet confirmed by the broker's receipt: seq -> its frames
        self._unconfirmed: dict[int, Frames] = {}
        self._next_sweep = 0.0
        #: set when a roll-back failed: memory no longer matches the store, only a restart can tell the truth
        self.failed = threading.Event()
        #: this process applies inputs (it holds the lease, or there is no lease: one model only)
        self.active = False
        if not isinstance(store, StreamStore):
            # unconfirmed until the broker confirms them again: a process killed between a commit and its
            # publish left a gap for every reader (a reset for its clients), and the journal has them
            self._unconfirmed.update(self._prepare(self._recent()))
        log.info("model state loaded: epoch %s, seq %d, %d sessions", self.epoch, self.seq, len(self._last_seen))

    # -- lifetime ---------------------------------------------------------------------
    def __enter__(self) -> ModelService:
        """Start the applier thread; frames delivered before are queued for it."""
        self._applier = threading.Thread(target=self._apply_frames, name="model-applier", daemon=True)
        self._applier.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the applier after the batch it is on; frames still queued were never acknowledged (redelivered)."""
        self._frames.put(None)
        if self._applier is not None:
            self._applier.join(timeout=30)

    # -- wiring ---------------------------------------------------------------------
    def attach(self, client: StompClient) -> None:
        """Subscribe to the input and control queues (re-issued on every reconnect)."""
        self._client = client
        headers = {"prefetch-count": str(self.settings.prefetch)}
        for destination, kind in (
            (self.settings.input_destination, "input"),
            (self.settings.control_destination, "control"),
        ):
            client.subscribe(
                protocol.consuming(destination),
                lambda frame, kind=kind: self._on_frame(kind, frame),
                ack="client-individual",
                headers=headers,
            )

    def _on_frame(self, kind: str, frame: Delivery) -> None:
        self._frames.put((kind, frame))  # on the receiver thread: hand on and return (it reads on meanwhile)

    def on_broker_state(self, state: str) -> None:
        if state == "connected":
            with self._lock:  # here, not in the loop: before the new connection's first frame is handled
                self._republish()
            self._inbox.put((_CONNECTED, None))
        elif self.active and isinstance(self.store, StreamStore):
            # the lease went with the connection: another model may be active already
            log.error("lost the broker connection while active; stopping (a restart rejoins as a standby)")
            self.failed.set()

    def wait_for_lease(self, client: StompClient, stop: threading.Event) -> bool:
        """Block until this process holds the lease, then catch up to the journal's end; False on ``stop``.

        Every process adds a lease message (so there is one); the broker delivers messages of the queue to
        its single active consumer only, which never acknowledges them: they pass to the next consumer
        when its connection ends.
        """
        self._client = client
        destination = self.settings.lease_destination
        leased = threading.Event()
        client.subscribe(destination, lambda frame: leased.set(), ack="client-individual",
                         headers={"prefetch-count": "1"})
        offered = False
        while not leased.wait(0.25):
            if stop.is_set():
                return False
            if not offered and client.connected.is_set():
                try:
                    client.send(destination, "lease", headers={"persistent": "true"})
                except BrokerUnavailable:
                    continue  # not connected after all: again once it is
                offered = True
                log.info("standby: following the journal, waiting for the lease")
        with self._lock:
            self._roll_back()  # the committed state at the journal's end, whoever wrote it
            self.active = True
            if isinstance(self.store, StreamStore):
                self._publish_recent()
        log.info("active: holding the lease at epoch %s, seq %d", self.epoch, self.seq)
        return True

    # -- the loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.active = True
        while not stop.is_set() and not self.failed.is_set():
            try:
                kind, _ = self._inbox.get(timeout=0.25)
            except queue.Empty:
                kind = None
            with self._lock:
                try:
                    self._tick(kind is _CONNECTED)
                except JournalLost:
                    log.critical("the journal did not take a write; stopping", exc_info=True)
                    self.failed.set()
        if self.failed.is_set():
            raise SystemExit("model: memory may not match the journal; restarting from the store")
        with self._lock:
            self.checkpoint()

    def _tick(self, reconnected: bool) -> None:
        if reconnected:
            self._publish_snapshot(self.settings.out_destination)
        if time.monotonic() >= self._next_sweep:
            self._logout_idle()
            self._next_sweep = time.monotonic() + min(1.0, self.settings.idle_timeout / 4)
        if self._checkpoint_due():
            self.checkpoint()

    def _checkpoint_due(self) -> bool:
        """Every ``checkpoint_every`` journal entries, once the journal since the last checkpoint is as long
        as that checkpoint was; always after ``checkpoint_bytes`` of journal.

        A checkpoint writes the whole state under the lock: at a chat's cap (10,000 messages of 1,000
        characters, a 10 MB state) 0.2-0.3 s in which no input is applied. Every 1,000 entries that was every
        ~500 messages; measured against the journal's own length it is every ~5,000, so checkpoints write at
        most as many bytes as the journal does, and a restart replays at most about one state's worth.
        """
        store = self.store
        if store.bytes_since_checkpoint >= self.settings.checkpoint_bytes:
            return True
        return (store.since_checkpoint >= self.settings.checkpoint_every
                and store.bytes_since_checkpoint >= store.checkpoint_size)

    def checkpoint(self) -> None:
        self.store.checkpoint(self.seq, self.bridge.state())

    # -- frames, in batches (the applier thread) ------------------------------------------
    def _apply_frames(self) -> None:
        """Take every frame queued by now as one batch (waiting only when there is none), handle it, repeat."""
        while (item := self._frames.get()) is not None:
            batch = [item]
            while True:
                try:
                    item = self._frames.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    return  # stopping: the frames taken so far were never acknowledged (redelivered)
                batch.append(item)
            with self._lock:
                try:
                    self._handle_batch(batch)
                except Exception:  # noqa: BLE001 - a bug here: memory may not match what was published
                    log.critical("handling a batch of %d frames failed; the model stops", len(batch), exc_info=True)
                    self.failed.set()

    def _handle_batch(self, batch: list[tuple[str, Delivery]]) -> None:
        """Apply the frames in order, commit them in one transaction, publish, acknowledge.

        A frame that fails to apply (or, found by committing frame by frame, to commit) splits the batch:
        what came before it is committed, the model goes back to that state, the frame is dead-lettered
        and the frames after it are applied again, on that state.
        """
        todo = deque(batch)
        while todo and not self.failed.is_set():
            applied: list[_Applied] = []
            poison: tuple[str, Delivery] | None = None
            while todo:
                kind, frame = todo.popleft()
                try:
                    done = self._apply(kind, frame)
                except _Poison as exc:
                    log.error("poison %s frame %s: rolled back, dead-lettered", kind, frame.headers.get("message-id"),
                              exc_info=exc.__cause__)
                    poison = (kind, frame)
                    break
                if done is not None:
                    applied.append(done)
            try:
                committed, failed, redo = self._commit_batch(applied)
            except JournalLost:
                return  # stopping (see _commit): the broker hands the frames to the next active model
            self._uncommitted.clear()  # committed now, or rolled back below
            if failed is not None or poison is not None:
                try:
                    self._roll_back()  # to what was committed: the poison frame's effects, and the redone frames'
                except Exception:  # noqa: BLE001
                    log.critical("roll-back failed; the model stops and restarts from its store", exc_info=True)
                    self.failed.set()
                    return
            self._send(committed)
            client = self._client
            assert client is not None
            if failed is not None:
                client.nack(failed.frame, requeue=False)
                again = [(a.kind, a.frame) for a in redo] + ([poison] if poison is not None else [])
                todo.extendleft(reversed(again))
            elif poison is not None:
                client.nack(poison[1], requeue=False)

    def _apply(self, kind: str, frame: Delivery) -> _Applied | None:
        """Apply one frame in memory (raises :class:`_Poison`); None for a frame of a lost connection."""
        client = self._client
        assert client is not None
        if frame.generation != client.generation or self.failed.is_set():
            return None  # from a lost connection, or we are about to restart: the broker redelivers it
        msg_id: str | None = None
        try:
            try:
                user = self.access.sender(frame.headers)
                if kind == "input":
                    msg_id = self._input(user, frame.body)
                else:
                    msg_id = self._control(user, frame)
            except protocol.ProtocolError as exc:
                log.warning("rejected %s frame %s: %s", kind, frame.headers.get("message-id"), exc)
            pending, self._pending = self._pending, []
            done = _Applied(kind, frame, msg_id, pending, self._owner_changes, self._prepare(pending), self._snapshots)
        except Exception as exc:  # noqa: BLE001 - any failure: the frame must neither stick nor block the queue
            raise _Poison() from exc
        self._owner_changes, self._snapshots = {}, []
        if msg_id is not None:
            self._uncommitted.add(msg_id)
        return done

    def _commit_batch(self, applied: list[_Applied]) -> tuple[list[_Applied], _Applied | None, list[_Applied]]:
        """Commit the frames in one transaction, or else one by one: ``(committed, failed, after_failed)``."""
        try:
            self._store(applied)
            return applied, None, []
        except JournalLost:
            raise
        except Exception:  # noqa: BLE001 - find the frame that fails alone
            if len(applied) == 1:
                log.exception("poison %s frame %s: its commit failed; rolled back, dead-lettered", applied[0].kind,
                              applied[0].frame.headers.get("message-id"))
                return [], applied[0], []
            log.warning("a batch of %d frames failed to commit; committing them one by one", len(applied))
        for k, one in enumerate(applied):
            try:
                self._store([one])
            except JournalLost:
                raise
            except Exception:  # noqa: BLE001
                log.exception("poison %s frame %s: its commit failed; rolled back, dead-lettered", one.kind,
                              one.frame.headers.get("message-id"))
                return applied[:k], one, applied[k + 1:]
        return applied, None, []

    def _store(self, applied: list[_Applied]) -> None:
        """One transaction for these frames' out messages, owner changes and ``msg_id``s."""
        owners: dict[str, str | None] = {}
        for one in applied:
            owners.update(one.owners)  # in order: a later change of a session wins
        messages = [message for one in applied for message in one.pending]
        self._commit(messages, [one.msg_id for one in applied if one.msg_id is not None], owners)

    def _send(self, committed: list[_Applied]) -> None:
        """Publish what the committed frames caused, in ``seq`` order, then answer snapshots, then acknowledge."""
        for one in committed:
            for seq, frames in one.sends:
                self._send_frames(seq, frames)
        for one in committed:
            for reply_to in one.snapshots:
                self._publish_snapshot(reply_to)
        client = self._client
        assert client is not None
        for one in committed:
            client.ack(one.frame)

    def _roll_back(self) -> None:
        """Forget every uncommitted change: reload the committed state, ``seq`` and owners, as a restart would."""
        self._pending = []
        self._private = {}
        self._owner_changes = {}
        self._snapshots = []
        self._uncommitted.clear()
        self.epoch, self.seq, state = self.store.load()
        self.bridge.restore(state)
        self.access.owners = self.store.owners()
        now = time.monotonic()
        self._last_seen = {session: self._last_seen.get(session, now) for session in self.bridge.handlers}

    def _input(self, user: str, body: str) -> str | None:
        message = protocol.decode_input(body)
        self.access.check(user, message.id)
        applied = _applied_key(message.id, message.msg_id)
        if self._seen(applied):
            log.info("duplicate input %s skipped", message.msg_id)
            return None
        if message.id in self.bridge.handlers:
            self._last_seen[message.id] = time.monotonic()
        try:
            self.bridge.write(message.id, message.trait, message.value)
        except BridgeError as exc:
            self._emit(
                {
                    "type": "error",
                    "to": message.id,
                    "code": exc.code,
                    "detail": exc.detail,
                    "trait": message.trait,
                    "msg_id": message.msg_id,
                }
            )
        return applied

    def _control(self, user: str, frame: Any) -> str | None:
        message = protocol.decode_control(frame.body)
        if isinstance(message, protocol.Touch):
            for session in message.ids:
                self.access.check(user, session)
            now = time.monotonic()
            for session in message.ids:
                if session in self._last_seen:
                    self._last_seen[session] = now
            return None
        if isinstance(message, protocol.SnapshotRequest):
            reply_to = protocol.check_reply_to(frame.headers.get("reply-to"))
            self._check_snapshot_rate(user)
            self._snapshots.append(reply_to)
            return None
        if isinstance(message, protocol.Login):
            self.access.check_login(user, message.id, message.id in self.bridge.handlers)
        else:
            self.access.check(user, message.id)
        applied = None if message.msg_id is None else _applied_key(message.id, message.msg_id)
        if applied is not None and self._seen(applied):
            return None
        if isinstance(message, protocol.Login):
            if self.bridge.login(message.id, message.name):
                log.info("login %s… as %r by %s", message.id[:8], message.name, user)
                self._set_owner(message.id, user)
            self._last_seen[message.id] = time.monotonic()
        else:
            if self.bridge.logout(message.id):
                log.info("logout %s… (%s)", message.id[:8], message.reason)
            self._set_owner(message.id, None)
            self._last_seen.pop(message.id, None)
        return applied

    def _seen(self, applied: str) -> bool:
        """Whether an input was applied: committed, or earlier in this batch (a retried send, sent twice)."""
        return applied in self._uncommitted or self.store.seen(applied)

    def _check_snapshot_rate(self, user: str) -> None:
        limiter = self._snapshot_limits["desktop" if self.access.is_desktop(user) else "gateway"]
        wait = limiter.take(user)
        if wait:
            raise protocol.ProtocolError(
                "rate_limited", f"{user} asks for more than {limiter.rate:g} snapshots a second "
                f"(burst {limiter.burst}); the next in {wait:.1f} s")

    def _set_owner(self, session: str, user: str | None) -> None:
        if user is None:
            if self.access.owners.pop(session, None) is None:
                return
        else:
            self.access.owners[session] = user
        self._owner_changes[session] = user

    def apply_background(self, change: Callable[[], None]) -> None:
        """Run model code that changes the shared state by itself (``traitsweb.background``), under the lock.

        Its effects are journaled, numbered and published as an input's are, with no ``msg_id``: only
        effects are durable, so after a crash the journal restores them and nothing is applied twice.
        What it changed before raising is kept too (the journal always matches the model), then it raises.
        """
        with self._lock:
            try:
                change()
            finally:
                self._commit_and_publish()

    def _logout_idle(self) -> None:
        limit = time.monotonic() - self.settings.idle_timeout
        idle = [s for s, seen in self._last_seen.items() if seen < limit]
        for session in idle:
            del self._last_seen[session]
            if self.bridge.logout(session):
                log.info("logout %s… (idle)", session[:8])
            self._set_owner(session, None)
        if idle:
            self._commit_and_publish()

    # -- out messages ---------------------------------------------------------------------
    def _emit(self, change: dict[str, Any]) -> None:
        self.seq += 1
        message = protocol.out_message(change.pop("type"), self.epoch, self.seq, **change)
        self._pending.append((self.seq, protocol.encode(message)))
        if "to" in message:
            self._private[self.seq] = message["to"]

    def _commit_and_publish(self) -> None:
        """Commit and publish the pending changes the model made by itself (no input, no ``msg_id``)."""
        self._commit(self._pending, [], self._owner_changes)
        pending, self._pending, self._owner_changes = self._pending, [], {}
        self._publish(pending)

    def _commit(self, messages: list[tuple[int, str]], msg_ids: list[str], owners: dict[str, str | None]) -> None:
        """Store out messages, the ``msg_id``s of the inputs that caused them and owner changes, in one transaction."""
        try:
            self.store.commit(messages, msg_ids, owners=owners)
        except JournalLost:
            log.critical("the journal did not confirm a commit; stopping", exc_info=True)
            self.failed.set()
            raise

    def _publish(self, pending: list[tuple[int, str]]) -> None:
        """Send one change's out messages (see :meth:`_prepare`)."""
        for seq, frames in self._prepare(pending):
            self._send_frames(seq, frames)

    def _prepare(self, pending: list[tuple[int, str]]) -> list[tuple[int, Frames]]:
        """The frames of one change's out messages. Public messages go to the out topic; a private one to its
        session's key (the owner's as of now), then its placeholder (in this order: a gateway reads both
        through one queue and so has the message before the placeholder's ``seq``). Every frame of a change
        but the last says ``more``. With the file journal each goes with a receipt; the frames of a ``seq``
        the broker has not confirmed are sent again after a reconnect (:meth:`_republish`): a message in
        flight when our node died would otherwise be a gap for every reader, and a reset for its clients.
        With the stream journal the next active model sends the journal's recent entries again instead
        (:meth:`_send_frames`). Readers skip a ``seq`` they already have."""
        settings = self.settings
        last = len(pending) - 1
        prepared: list[tuple[int, Frames]] = []
        for k, (seq, body) in enumerate(pending):
            headers = {"content-type": "application/json"}
            frames: Frames = []
            session = self._private.pop(seq, None)
            if session is not None:
                owner = self.access.owners.get(session)
                desktop = owner if self.access.is_desktop(owner) else None
                # its placeholder follows at once: more of the change to come
                frames.append((protocol.private_destination(settings.out_destination, settings.private_destination,
                                                            session, desktop=desktop), body,
                               {**headers, protocol.MORE: "true"}))
                body = protocol.encode(protocol.out_message(protocol.PLACEHOLDER, self.epoch, seq))
            if k < last:
                headers[protocol.MORE] = "true"
            frames.append((settings.out_destination, body, headers))
            prepared.append((seq, frames))
        return prepared

    def _send_frames(self, seq: int, frames: Frames) -> None:
        client = self._client
        assert client is not None
        if isinstance(self.store, StreamStore):
            # no receipts: an active model stops when its connection ends, and the next one publishes the
            # journal's recent entries again (wait_for_lease), so nothing here would be sent again. And a
            # receipt costs more than CPU on a cluster: a frame routed to a queue whose node just died is
            # nacked, and RabbitMQ 3.10's STOMP connection process crashes on the nack (function_clause in
            # rabbit_stomp_reader), taking the new active model's connection, and its lease, with it
            for destination, body, headers in frames:
                client.publish(destination, body, headers=headers)
            return
        self._unconfirmed[seq] = frames
        future = None
        for destination, body, headers in frames:
            future = client.send_async(destination, body, headers=headers)
        assert future is not None  # receipts come in order: the last one confirms the seq's frames
        future.add_done_callback(lambda done, seq=seq: self._confirmed(seq, done))

    def _confirmed(self, seq: int, done: Future[None]) -> None:
        if done.exception() is None:
            self._unconfirmed.pop(seq, None)

    def _recent(self) -> list[tuple[int, str]]:
        """The journal's newest committed out messages, to be sent again (readers skip a ``seq`` they have)."""
        recent = self.store.recent()
        for seq, text in recent:  # a private one goes to its session's key again, not to everyone
            to = protocol.recipient(text)
            if to is not None:
                self._private[seq] = to
        return recent

    def _publish_recent(self) -> None:
        self._publish(self._recent())

    def _republish(self) -> None:
        """After a reconnect, before the snapshot: the out messages never confirmed, in ``seq`` order."""
        unconfirmed = sorted(self._unconfirmed.items())
        if unconfirmed:
            log.info("publishing %d unconfirmed out messages again", len(unconfirmed))
        for seq, frames in unconfirmed:
            self._send_frames(seq, frames)

    def _publish_snapshot(self, destination: str) -> None:
        """The state, bounded: long lists keep their newest items (``truncated`` says how many older exist)."""
        snapshot = protocol.out_message(
            "snapshot", self.epoch, self.seq, state={}, schema=self.bridge.schema, page=type(self.bridge.model).page,
        )
        limit = self.settings.snapshot_max_bytes
        snapshot["state"], truncated = bound_state(self.bridge.state(), limit - encoded_size(snapshot))
        if truncated:
            snapshot["truncated"] = truncated
        body = protocol.encode(snapshot)
        if len(body.encode("utf-8", "surrogatepass")) > limit:
            log.error("the snapshot exceeds TRAITSWEB_SNAPSHOT_MAX_BYTES (%d) with every list trimmed", limit)
        assert self._client is not None
        self._client.publish(destination, body, headers={"content-type": "application/json"})


def _applied_key(session: str, msg_id: str) -> str:
    """How an applied frame is remembered: ``msg_id`` within its session, so that a sender allowed to act for
    one session cannot use up another session's ``msg_id`` (its later write would be skipped as a duplicate)."""
    return f"{session}/{msg_id}"
