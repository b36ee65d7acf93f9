"""One owner for one STOMP connection: connect, heart-beats, reconnect, resubscribe.

stomp.py only retries the socket; after a reconnect the subscriptions are the
application's job, and a few of its listener callbacks are known to be flaky
around reconnects. So :class:`StompClient` builds a *fresh* stomp.py
connection for every attempt, from one supervisor thread that owns it, and
re-issues every registered subscription on it::

    with StompClient(settings.broker, name="model") as client:
        client.subscribe("/queue/x", on_frame, ack="client-individual")
        client.send("/queue/y", body)          # waits for the broker's receipt

Callbacks run on stomp.py's receiver thread: hand the work on and return.
Each callback gets a :class:`Delivery`: the frame's body and headers and the
``generation``, the number of the connection it came on; acking a delivery of
an older connection is skipped (the broker has already requeued it).

:func:`connect` picks the implementation from the URL: ``stomp://...`` is a
:class:`StompClient`, ``memory://NAME`` an in-process broker
(:mod:`traitsweb.memory`) with the same surface, for tests without RabbitMQ.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import stomp
from stomp.exception import StompException

from traitsweb import redact
from traitsweb.lifetime import Lifetime
from traitsweb.settings import BrokerURL

__all__ = ["BrokerClient", "BrokerUnavailable", "Delivery", "StompClient", "Subscription", "connect"]

log = logging.getLogger(__name__)
redact.install()  # stomp.py logs CONNECT's passcode at DEBUG


@dataclass(frozen=True, slots=True)
class Delivery:
    """One frame the broker delivered, and the number of the connection it came on."""

    body: str
    headers: dict[str, str]
    generation: int


FrameCallback = Callable[[Delivery], None]


class BrokerUnavailable(RuntimeError):
    """The broker did not take a frame: not connected, refused, or no receipt in time."""


@dataclass
class Subscription:
    destination: str
    callback: FrameCallback
    ack: str = "auto"
    headers: dict[str, str] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class BrokerClient(Protocol):
    """What services use of a broker connection; :func:`connect` returns one."""

    name: str
    connected: threading.Event
    reconnects: int

    @property
    def generation(self) -> int: ...
    def __enter__(self) -> BrokerClient: ...
    def __exit__(self, *exc: object) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...
    def wait_connected(self, timeout: float) -> bool: ...
    def subscribe(self, destination: str, callback: FrameCallback, *, ack: str = "auto",
                  headers: dict[str, str] | None = None) -> Subscription: ...
    def unsubscribe(self, sub: Subscription) -> None: ...
    def on_reply(self, temp_queue: str, callback: FrameCallback) -> None: ...
    def send_async(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> Future[None]: ...
    def send(self, destination: str, body: str, *, headers: dict[str, str] | None = None,
             timeout: float = 5.0) -> None: ...
    def publish(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> bool: ...
    def ack(self, frame: Delivery) -> None: ...
    def nack(self, frame: Delivery, *, requeue: bool = True) -> None: ...


def connect(
    broker: BrokerURL,
    *,
    name: str,
    heartbeat_ms: int = 10_000,
    on_state: Callable[[str], None] | None = None,
) -> BrokerClient:
    """The client for ``broker``'s scheme (not started: use it as a context manager or call ``start``)."""
    if broker.scheme == "memory":
        from traitsweb.memory import MemoryClient

        return MemoryClient(broker, name=name, on_state=on_state)
    return StompClient(broker, name=name, heartbeat_ms=heartbeat_ms, on_state=on_state)


class BaseClient(Lifetime):
    """What both clients own alike: the registered subscriptions and reply routes, the connection's number and
    state, and handing a delivery to its callback. A subclass issues subscriptions and moves frames."""

    def __init__(self, *, name: str, on_state: Callable[[str], None] | None) -> None:
        self.name = name
        self._on_state = on_state
        self._subscriptions: dict[str, Subscription] = {}
        self._replies: dict[str, FrameCallback] = {}
        self._lock = threading.RLock()
        self._generation = 0
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.reconnects = 0

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    @property
    def generation(self) -> int:
        return self._generation

    def subscribe(self, destination: str, callback: FrameCallback, *, ack: str = "auto",
                  headers: dict[str, str] | None = None) -> Subscription:
        """Register a subscription; it is (re-)issued on every connection."""
        sub = Subscription(destination, callback, ack, dict(headers or {}))
        with self._lock:
            self._subscriptions[sub.id] = sub
            self._issue_now(sub)
        return sub

    def on_reply(self, temp_queue: str, callback: FrameCallback) -> None:
        """Route frames that arrive for ``reply-to: /temp-queue/NAME`` to ``callback``."""
        with self._lock:
            self._replies[temp_queue] = callback

    def send_async(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> Future[None]:
        raise NotImplementedError

    def send(self, destination: str, body: str, *, headers: dict[str, str] | None = None,
             timeout: float = 5.0) -> None:
        """Send and wait for the receipt; raises :class:`BrokerUnavailable`."""
        future = self.send_async(destination, body, headers=headers)
        try:
            future.result(timeout)
        except TimeoutError:
            raise BrokerUnavailable(f"no receipt within {timeout} s") from None

    def ack(self, frame: Delivery) -> None:
        self._settle(frame, None)

    def nack(self, frame: Delivery, *, requeue: bool = True) -> None:
        """Refuse a frame; ``requeue=False`` drops it, or dead-letters it where the queue has a dead-letter policy."""
        self._settle(frame, requeue)

    # -- what a subclass defines ------------------------------------------------------
    def _issue_now(self, sub: Subscription) -> None:
        """Under the lock: issue ``sub`` on the current connection, if there is one."""
        raise NotImplementedError

    def _settle(self, frame: Delivery, requeue: bool | None) -> None:
        """ACK (``requeue=None``) or NACK ``frame``, unless the connection it came on is gone."""
        raise NotImplementedError

    # -- shared inside ------------------------------------------------------------------
    def _notify(self, state: str) -> None:
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:  # noqa: BLE001 - a failing observer must not kill the connection
                log.exception("%s: on_state(%s) failed", self.name, state)

    def _dispatch(self, delivery: Delivery) -> None:
        """Hand a delivery to its subscription's (or reply route's) callback, on the receiver thread."""
        key = delivery.headers.get("subscription", "")
        with self._lock:
            sub = self._subscriptions.get(key)
            callback = sub.callback if sub is not None else self._replies.get(key)
        if callback is None:
            return
        try:
            callback(delivery)
        except Exception:  # noqa: BLE001 - never let one bad frame stop the receiver
            log.exception("%s: callback for %s failed", self.name, key)


class _Listener(stomp.ConnectionListener):  # type: ignore[misc]  # stomp.py ships no type information
    """Routes one stomp.py connection's events to its :class:`StompClient`."""

    def __init__(self, client: StompClient, generation: int, conn: stomp.Connection12) -> None:
        self._client = client
        self._generation = generation
        self._conn = conn

    def on_connected(self, frame: Any) -> None:
        # On the receiver thread, before it reads again: a read already waiting keeps the timeout the
        # socket had when it began (seen: 1 connection in 40 dropped 5 s after CONNECTED when the
        # connecting thread cleared the timeout instead).
        sock = getattr(self._conn.transport, "socket", None)
        if sock is not None:
            # stomp.py leaves Nagle on: small frames would wait ~40 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # ... and leaves the connect timeout on the socket, so any quiet spell longer than it reads
            # as a closed connection; heart-beats are what tell a dead broker from a quiet one
            sock.settimeout(None)
        self._client._connected_frame(self._generation)

    def on_message(self, frame: Any) -> None:
        self._client._deliver(self._generation, frame)

    def on_receipt(self, frame: Any) -> None:
        self._client._receipt(frame.headers.get("receipt-id", ""), None)

    def on_error(self, frame: Any) -> None:
        message = frame.headers.get("message", "")
        log.warning("%s: broker ERROR frame: %s %s", self._client.name, message, frame.body)
        receipt = frame.headers.get("receipt-id")
        if receipt:
            self._client._receipt(receipt, BrokerUnavailable(message or "broker error"))
        self._client._lost(self._generation, f"ERROR frame: {message}")

    def on_disconnected(self) -> None:
        self._client._lost(self._generation, "disconnected")

    def on_heartbeat_timeout(self) -> None:
        self._client._lost(self._generation, "heart-beat timeout")


class StompClient(BaseClient):
    """A STOMP connection that stays up: reconnects with backoff, resubscribes by itself.

    ``on_state`` is called (on the supervisor thread) with ``"connected"`` or
    ``"disconnected"``, after subscriptions are re-issued.
    """

    def __init__(
        self,
        broker: BrokerURL,
        *,
        name: str,
        heartbeat_ms: int = 10_000,
        connect_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name=name, on_state=on_state)
        self._broker = broker
        self._heartbeat_ms = heartbeat_ms
        self._connect_timeout = connect_timeout
        self._backoff = backoff
        self._conn: stomp.Connection12 | None = None
        self._pending: dict[str, Future[None]] = {}
        self._stopping = threading.Event()
        self._lost_event = threading.Event()
        self._handshake = threading.Event()
        #: the node of the current (or last) connection
        self.node: tuple[str, int] | None = None

    # -- lifetime -----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"stomp-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        self._lost_event.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- operations ---------------------------------------------------------------
    def _issue_now(self, sub: Subscription) -> None:
        if self._conn is not None and self.connected.is_set():
            self._issue(self._conn, sub)

    def unsubscribe(self, sub: Subscription) -> None:
        """End a subscription (and stop re-issuing it)."""
        with self._lock:
            self._subscriptions.pop(sub.id, None)
            conn = self._conn if self.connected.is_set() else None
            if conn is not None:
                try:
                    conn.unsubscribe(id=sub.id)
                except (StompException, OSError):
                    pass  # the connection is going: the subscription ends with it

    def send_async(
        self, destination: str, body: str, *, headers: dict[str, str] | None = None
    ) -> Future[None]:
        """Send a frame asking for a receipt; the future resolves when the broker took it."""
        future: Future[None] = Future()
        receipt = uuid.uuid4().hex
        with self._lock:
            conn = self._conn
            if conn is None or not self.connected.is_set():
                future.set_exception(BrokerUnavailable("not connected to the broker"))
                return future
            self._pending[receipt] = future
            try:
                conn.send(destination, body, headers={**self._stamp(headers), "receipt": receipt})
            except (StompException, OSError) as exc:
                self._pending.pop(receipt, None)
                future.set_exception(BrokerUnavailable(str(exc) or "send failed"))
        return future

    def publish(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> bool:
        """Send without a receipt (fire and forget); False when not connected."""
        with self._lock:
            conn = self._conn
            if conn is None or not self.connected.is_set():
                return False
            try:
                conn.send(destination, body, headers=self._stamp(headers))
            except (StompException, OSError):
                return False
        return True

    def _stamp(self, headers: dict[str, str] | None) -> dict[str, str]:
        """Every SEND names its sender: the broker checks ``user-id`` against our login, so a consumer can trust it."""
        if self._broker.user is None:
            return dict(headers or {})
        return {**(headers or {}), "user-id": self._broker.user}

    def _settle(self, frame: Delivery, requeue: bool | None) -> None:
        how = "ack" if requeue is None else "nack"
        headers = {"requeue": "false"} if requeue is False else {}
        with self._lock:
            conn = self._conn
            if conn is None or frame.generation != self._generation or not self.connected.is_set():
                return  # that connection is gone; the broker redelivers the frame
            try:
                getattr(conn, how)(frame.headers["ack"], **headers)
            except (StompException, OSError):
                log.info("%s: %s failed; the frame will be redelivered", self.name, how)

    # -- the supervisor thread ----------------------------------------------------
    def _run(self) -> None:
        """Connect, hold the connection until it is lost, then try the next node.

        A cluster's nodes are tried in turn, starting at a random one (so services spread over the
        nodes), each failure or loss moving on to the next: a dead or frozen node costs one attempt,
        not a backoff. The backoff grows only when a whole round of nodes has failed.
        """
        nodes = self._broker.nodes
        turn = random.randrange(len(nodes))
        delay = self._backoff[0]
        failed = 0
        while not self._stopping.is_set():
            host, port = nodes[turn % len(nodes)]
            if self._connect_once(host, port):
                delay, failed = self._backoff[0], 0
                self._lost_event.wait()
                self._teardown()
                # any other node, at random: the clients of a lost node should not all land on one
                turn += 1 + random.randrange(max(len(nodes) - 1, 1))
            else:
                failed += 1
                turn += 1
            if self._stopping.is_set():
                break
            if failed and failed % len(nodes) == 0:
                self._stopping.wait(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._backoff[1])
            elif not failed:
                self._stopping.wait(self._backoff[0] * random.random())  # a lost node: straight on to the next
        self._teardown(final=True)

    def _connect_once(self, host: str, port: int) -> bool:
        broker = self._broker
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._lost_event.clear()
            self._handshake.clear()
            conn = stomp.Connection12(
                [(host, port)],
                heartbeats=(self._heartbeat_ms, self._heartbeat_ms),
                vhost=broker.vhost,
                reconnect_attempts_max=1,
                timeout=self._connect_timeout,
                try_loopback_connect=False,
            )
            conn.set_listener("traitsweb", _Listener(self, generation, conn))
            self._conn = conn
        try:
            conn.connect(broker.user, broker.password, wait=False)
        except (StompException, OSError) as exc:
            log.info("%s: broker %s:%s not reachable (%s)", self.name, host, port, exc)
            self._discard(conn)
            return False
        if not self._handshake.wait(self._connect_timeout) or self._lost_event.is_set():
            log.info("%s: no CONNECTED from the broker at %s:%s", self.name, host, port)
            self._discard(conn)
            return False
        with self._lock:
            for sub in self._subscriptions.values():
                self._issue(conn, sub)
            self.connected.set()
        self.node = (host, port)
        log.info("%s: connected to %s:%s", self.name, host, port)
        if generation > 1:
            self.reconnects += 1
        self._notify("connected")
        return True

    def _issue(self, conn: stomp.Connection12, sub: Subscription) -> None:
        conn.subscribe(sub.destination, id=sub.id, ack=sub.ack, headers=dict(sub.headers))

    def _discard(self, conn: stomp.Connection12) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        try:
            conn.disconnect()
        except Exception:  # noqa: BLE001 - a half-open connection may fail in any way
            pass
        try:
            conn.transport.stop()
        except Exception:  # noqa: BLE001
            pass

    def _teardown(self, final: bool = False) -> None:
        was_connected = self.connected.is_set()
        with self._lock:
            self.connected.clear()
            conn, self._conn = self._conn, None
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BrokerUnavailable("connection to the broker lost"))
        if conn is not None:
            self._discard(conn)
        if was_connected:
            if final or self._stopping.is_set():
                log.info("%s: disconnected", self.name)
            else:
                log.warning("%s: lost the broker connection", self.name)
            self._notify("disconnected")

    # -- called from stomp.py's receiver thread -----------------------------------
    def _connected_frame(self, generation: int) -> None:
        if generation == self._generation:
            self._handshake.set()

    def _deliver(self, generation: int, frame: Any) -> None:
        if generation != self._generation:
            return
        self._dispatch(Delivery(frame.body, frame.headers, generation))

    def _receipt(self, receipt_id: str, error: BaseException | None) -> None:
        with self._lock:
            future = self._pending.pop(receipt_id, None)
        if future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _lost(self, generation: int, why: str) -> None:
        if generation == self._generation and not self._lost_event.is_set():
            log.info("%s: connection lost (%s)", self.name, why)
            self._lost_event.set()
