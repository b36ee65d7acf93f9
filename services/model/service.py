"""The model service's loop: frames in, model changes out, acknowledged after they stick.

Frames are handled where they arrive, on stomp.py's receiver thread (a hand-off
to another thread would cost every message a thread wake-up); one lock makes
the model, the store and the sequence numbers single-threaded, shared with the
caller of :meth:`ModelService.run`, which publishes snapshots after reconnects,
logs idle sessions out and checkpoints. For each input the service applies the
write, commits the resulting out messages and the input's ``msg_id`` in one
transaction, publishes them, and only then acknowledges the frame. A crash at any point either loses the
unacknowledged frame to a redelivery (applied once, thanks to ``msg_id``) or
leaves committed changes that the snapshot published at the next start
carries to every consumer.

Each frame names its sender (``user-id``, validated by the broker); :class:`Access`
decides which sessions that sender may act for. A frame that fails in any
other way than a protocol error (a value SQLite cannot store, a full disk) is
a poison frame: the model goes back to its last committed state, as a restart
would, rejects the frame to the broker's dead-letter queue and serves on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from traitsweb import protocol
from traitsweb.bridge import Bridge, BridgeError, SharedModel
from traitsweb.broker import StompClient
from traitsweb.snapshot import bound_state, encoded_size

from .access import Access
from .config import ModelSettings
from .store import Store

__all__ = ["ModelService"]

log = logging.getLogger(__name__)

_CONNECTED = object()


class ModelService:
    def __init__(self, settings: ModelSettings, model: SharedModel, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.epoch, self.seq, state = store.load()
        self._pending: list[tuple[int, str]] = []
        #: owner changes not yet committed: session -> user, or None when the session ended
        self._owner_changes: dict[str, str | None] = {}
        self.bridge = Bridge(model, self._emit)
        self.bridge.restore(state)
        self.access = Access(
            gateways=settings.gateway_users, desktops=settings.desktop_users, owners=store.owners()
        )
        #: reconnections to answer with a snapshot (from the broker client's supervisor thread)
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        now = time.monotonic()
        self._last_seen = {session: now for session in self.bridge.handlers}
        self._client: StompClient | None = None
        #: set when a roll-back failed: memory no longer matches the store, only a restart can tell the truth
        self.failed = threading.Event()
        log.info("model state loaded: epoch %s, seq %d, %d sessions", self.epoch, self.seq, len(self._last_seen))

    # -- wiring ---------------------------------------------------------------------
    def attach(self, client: StompClient) -> None:
        """Subscribe to the input and control queues (re-issued on every reconnect)."""
        self._client = client
        headers = {**protocol.QUEUE_HEADERS, "prefetch-count": str(self.settings.prefetch)}
        for destination, kind in (
            (self.settings.input_destination, "input"),
            (self.settings.control_destination, "control"),
        ):
            client.subscribe(
                protocol.declaring(destination),
                lambda frame, kind=kind: self._on_frame(kind, frame),
                ack="client-individual",
                headers=headers,
            )

    def _on_frame(self, kind: str, frame: Any) -> None:
        with self._lock:
            self._handle(kind, frame)

    def on_broker_state(self, state: str) -> None:
        if state == "connected":
            self._inbox.put((_CONNECTED, None))

    # -- the loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        next_sweep = 0.0
        while not stop.is_set() and not self.failed.is_set():
            try:
                kind, _ = self._inbox.get(timeout=0.25)
            except queue.Empty:
                kind = None
            with self._lock:
                if kind is _CONNECTED:
                    self._publish_snapshot(self.settings.out_destination)
                if time.monotonic() >= next_sweep:
                    self._logout_idle()
                    next_sweep = time.monotonic() + min(1.0, self.settings.idle_timeout / 4)
                if self.store.since_checkpoint >= self.settings.checkpoint_every:
                    self.checkpoint()
        if self.failed.is_set():
            raise SystemExit("model: a poison frame could not be rolled back; restarting from the store")
        with self._lock:
            self.checkpoint()

    def checkpoint(self) -> None:
        self.store.checkpoint(self.seq, self.bridge.state())

    # -- one frame ----------------------------------------------------------------------
    def _handle(self, kind: str, frame: Any) -> None:
        client = self._client
        assert client is not None
        if frame.generation != client.generation or self.failed.is_set():
            return  # from a lost connection, or we are about to restart: the broker redelivers it
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
            pending = self._commit(msg_id)
        except Exception:  # noqa: BLE001 - any failure: the frame must neither stick nor block the queue
            log.exception("poison %s frame %s: rolled back, dead-lettered", kind, frame.headers.get("message-id"))
            try:
                self._roll_back()
            except Exception:  # noqa: BLE001
                log.critical("roll-back failed; the model stops and restarts from its store", exc_info=True)
                self.failed.set()
                return
            client.nack(frame, requeue=False)
            return
        self._publish(pending)
        client.ack(frame)

    def _roll_back(self) -> None:
        """Forget every uncommitted change: reload the committed state, ``seq`` and owners, as a restart would."""
        self._pending = []
        self._owner_changes = {}
        self.epoch, self.seq, state = self.store.load()
        self.bridge.restore(state)
        self.access.owners = self.store.owners()
        now = time.monotonic()
        self._last_seen = {session: self._last_seen.get(session, now) for session in self.bridge.handlers}

    def _input(self, user: str, body: str) -> str | None:
        message = protocol.decode_input(body)
        self.access.check(user, message.id)
        applied = _applied_key(message.id, message.msg_id)
        if self.store.seen(applied):
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
            self._publish_snapshot(protocol.check_reply_to(frame.headers.get("reply-to")))
            return None
        if isinstance(message, protocol.Login):
            self.access.check_login(user, message.id, message.id in self.bridge.handlers)
        else:
            self.access.check(user, message.id)
        applied = None if message.msg_id is None else _applied_key(message.id, message.msg_id)
        if applied is not None and self.store.seen(applied):
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
                self._commit_and_publish(None)

    def _logout_idle(self) -> None:
        limit = time.monotonic() - self.settings.idle_timeout
        idle = [s for s, seen in self._last_seen.items() if seen < limit]
        for session in idle:
            del self._last_seen[session]
            if self.bridge.logout(session):
                log.info("logout %s… (idle)", session[:8])
            self._set_owner(session, None)
        if idle:
            self._commit_and_publish(None)

    # -- out messages ---------------------------------------------------------------------
    def _emit(self, change: dict[str, Any]) -> None:
        self.seq += 1
        message = protocol.out_message(change.pop("type"), self.epoch, self.seq, **change)
        self._pending.append((self.seq, protocol.encode(message)))

    def _commit_and_publish(self, msg_id: str | None) -> None:
        self._publish(self._commit(msg_id))

    def _commit(self, msg_id: str | None) -> list[tuple[int, str]]:
        """Store the pending out messages, owner changes and ``msg_id`` in one transaction; the messages to publish."""
        self.store.commit(self._pending, msg_id, owners=self._owner_changes)
        pending, self._pending, self._owner_changes = self._pending, [], {}
        return pending

    def _publish(self, pending: list[tuple[int, str]]) -> None:
        client = self._client
        assert client is not None
        for _, body in pending:
            client.publish(self.settings.out_destination, body, headers={"content-type": "application/json"})

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
