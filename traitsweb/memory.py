"""An in-process broker with :class:`~traitsweb.broker.StompClient`'s surface, for tests without RabbitMQ.

``memory://NAME`` names one broker per process; every client of that URL
talks to it. It keeps the semantics services rely on, as RabbitMQ's STOMP
plugin gives them:

- ``/queue/NAME`` and ``/amq/queue/NAME``: the same queue (as if the broker's definitions declared every
  queue at boot, as ours do), and so is ``/exchange/E/K`` for ``NAME`` = ``E.K`` (as ours bind the
  model's queues to the exchange ``traitsweb``); each
  message to one subscriber (round robin), kept while nobody consumes;
  ``client``/``client-individual`` subscriptions get at most ``prefetch-count``
  unacknowledged messages; a NACK, or the loss of the connection, requeues
  what was not acknowledged, marked ``redelivered``; a NACK with ``requeue=False`` takes the message out
  of its queue into :attr:`MemoryBroker.dead` (RabbitMQ dead-letters it where a policy says so).
- ``user-id``: every client stamps its URL's user on what it sends, as ``StompClient`` does, and the
  broker refuses a frame whose ``user-id`` is not its sender's (RabbitMQ's ``precondition_failed``).
- ``/topic/KEY``: a copy to every current subscriber whose pattern matches ``KEY`` as a topic exchange
  matches it (``*`` one word, ``#`` zero or more), in the order sent; nobody subscribed, nobody gets it.
- ``reply-to: /temp-queue/NAME``: rewritten to a ``/reply-queue/amq.gen-...``
  destination that reaches the sender's connection; replies arrive with
  ``subscription: /temp-queue/NAME``.

Not modelled: permissions (topic permissions included: any client may subscribe to any key), queue
arguments and policies, persistence across processes,
heart-beats. A receipt is immediate: the broker "took" a frame once it is queued.
Callbacks run on the client's own receiver thread, one frame at a time, as
stomp.py's do; :meth:`MemoryClient.drop` simulates a lost connection.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from traitsweb.broker import BrokerUnavailable, Delivery, Subscription, BaseClient
from traitsweb.settings import BrokerURL

__all__ = ["MemoryBroker", "MemoryClient", "memory_broker"]


_ids = itertools.count(1)


@dataclass
class _Message:
    body: str
    headers: dict[str, str]
    redelivered: bool = False
    id: str = field(default_factory=lambda: f"m-{next(_ids)}")


@dataclass(eq=False)
class _Connection:
    client: MemoryClient
    generation: int
    id: str = field(default_factory=lambda: f"c{next(_ids)}")


@dataclass(eq=False)
class _Consumer:
    conn: _Connection
    sub: Subscription
    prefetch: int  # 0: unlimited
    unacked: OrderedDict[str, _Message] = field(default_factory=OrderedDict)

    @property
    def acks(self) -> bool:
        return self.sub.ack != "auto"

    def has_room(self) -> bool:
        return not self.acks or not self.prefetch or len(self.unacked) < self.prefetch


@dataclass(eq=False)
class _Queue:
    messages: deque[_Message] = field(default_factory=deque)
    consumers: list[_Consumer] = field(default_factory=list)
    turn: int = 0


class MemoryBroker:
    """Queues, topics and reply routes of one ``memory://`` broker; every method takes its one lock."""

    def __init__(self) -> None:
        self._lock = threading.Condition()  # a lock that wait_settled can wait on
        self._queues: dict[str, _Queue] = {}
        self._topics: dict[str, list[_Consumer]] = {}
        self._replies: dict[str, tuple[_Connection, str]] = {}
        self._routes: dict[tuple[str, str], str] = {}  # (connection, temp queue) -> its reply queue
        self._pending_acks: dict[str, tuple[_Consumer, str]] = {}
        #: ``(queue, body)`` of every message NACKed with ``requeue=False``, oldest first
        self.dead: list[tuple[str, str]] = []

    # -- connections --------------------------------------------------------------------
    def open(self, client: MemoryClient, generation: int) -> _Connection:
        return _Connection(client, generation)

    def close(self, conn: _Connection) -> None:
        """The connection is gone: its subscriptions end, what it had not acknowledged is requeued."""
        with self._lock:
            for name, q in self._queues.items():
                mine = [c for c in q.consumers if c.conn is conn]
                if not mine:
                    continue
                q.consumers = [c for c in q.consumers if c.conn is not conn]
                for consumer in mine:
                    self._requeue(q, consumer, list(consumer.unacked))
                self._dispatch(name, q)
            for key, consumers in self._topics.items():
                self._topics[key] = [c for c in consumers if c.conn is not conn]
            self._replies = {k: v for k, v in self._replies.items() if v[0] is not conn}
            self._routes = {k: v for k, v in self._routes.items() if k[0] != conn.id}

    def subscribe(self, conn: _Connection, sub: Subscription) -> None:
        prefetch = sub.headers.get("prefetch-count", "0")
        consumer = _Consumer(conn, sub, int(prefetch) if prefetch.isdigit() else 0)
        kind, name = _split(sub.destination)
        with self._lock:
            if kind == "topic":
                self._topics.setdefault(name, []).append(consumer)
                return
            q = self._queues.setdefault(name, _Queue())
            q.consumers.append(consumer)
            self._dispatch(name, q)

    def unsubscribe(self, conn: _Connection, sub_id: str) -> None:
        """End one subscription: what it had not acknowledged is requeued."""
        with self._lock:
            for name, q in self._queues.items():
                mine = [c for c in q.consumers if c.conn is conn and c.sub.id == sub_id]
                q.consumers = [c for c in q.consumers if c not in mine]
                for consumer in mine:
                    self._requeue(q, consumer, list(consumer.unacked))
                if mine:
                    self._dispatch(name, q)
            for key, consumers in self._topics.items():
                self._topics[key] = [c for c in consumers if not (c.conn is conn and c.sub.id == sub_id)]

    # -- frames ---------------------------------------------------------------------------
    def send(self, conn: _Connection, destination: str, body: str, headers: dict[str, str]) -> None:
        headers = {k: v for k, v in headers.items() if k != "receipt"}
        user = conn.client.user
        if "user-id" in headers and headers["user-id"] != user:
            raise BrokerUnavailable(f"PRECONDITION_FAILED - user_id property set to '{headers['user-id']}' "
                                    f"but authenticated user was '{user}'")
        reply_to = headers.get("reply-to", "")
        with self._lock:
            if reply_to.startswith("/temp-queue/"):
                route = self._routes.get((conn.id, reply_to))
                if route is None:  # one server-named queue per connection and temp-queue, as RabbitMQ's
                    route = self._routes[(conn.id, reply_to)] = f"/reply-queue/amq.gen-{conn.id}_{next(_ids)}"
                self._replies[route] = (conn, reply_to)
                headers["reply-to"] = route
            kind, name = _split(destination)
            if kind == "reply":
                target = self._replies.get(destination)
                if target is not None:
                    reply_conn, temp_queue = target
                    reply_conn.client._push(reply_conn, _delivery(_Message(body, headers), destination, temp_queue))
            elif kind == "topic":
                for pattern, consumers in self._topics.items():
                    if _matches(pattern.split("."), name.split(".")):
                        for consumer in consumers:
                            self._hand(consumer, _Message(body, dict(headers)), destination)
            else:
                q = self._queues.setdefault(name, _Queue())
                q.messages.append(_Message(body, headers))
                self._dispatch(name, q)

    def settle(self, conn: _Connection, ack_id: str, *, requeue: bool | None) -> None:
        """ACK (``requeue=None``) or NACK the message ``ack_id`` (cumulatively under ``ack:client``); a NACK
        without requeue drops it."""
        with self._lock:
            owner = self._pending_acks.get(ack_id)
            if owner is None or owner[0].conn is not conn:
                return
            consumer, name = owner
            ids = list(consumer.unacked)
            ids = ids[: ids.index(ack_id) + 1] if consumer.sub.ack == "client" else [ack_id]
            q = self._queues[name]
            if requeue is None or requeue is False:
                for settled in ids:
                    message = consumer.unacked.pop(settled)
                    del self._pending_acks[settled]
                    if requeue is False:
                        self.dead.append((name, message.body))
            else:
                self._requeue(q, consumer, ids)
            self._dispatch(name, q)
            self._lock.notify_all()

    def queue_depth(self, destination: str) -> int:
        """Messages waiting in a queue, not yet delivered (for tests)."""
        with self._lock:
            q = self._queues.get(_split(destination)[1])
            return len(q.messages) if q else 0

    def wait_settled(self, destination: str, timeout: float) -> bool:
        """Until every message sent to a queue so far is delivered and, where its consumer acknowledges,
        acknowledged or refused (for tests: what was sent has been handled); False after ``timeout`` s."""
        name = _split(destination)[1]

        def settled() -> bool:
            q = self._queues.get(name)
            return q is None or (not q.messages and not any(c.unacked for c in q.consumers))

        with self._lock:
            return self._lock.wait_for(settled, timeout)

    # -- with the lock held -------------------------------------------------------------------
    def _requeue(self, q: _Queue, consumer: _Consumer, ack_ids: list[str]) -> None:
        for ack_id in reversed(ack_ids):
            message = consumer.unacked.pop(ack_id)
            self._pending_acks.pop(ack_id, None)
            message.redelivered = True
            q.messages.appendleft(message)

    def _dispatch(self, name: str, q: _Queue) -> None:
        while q.messages and q.consumers:
            for step in range(len(q.consumers)):
                consumer = q.consumers[(q.turn + step) % len(q.consumers)]
                if consumer.has_room():
                    q.turn = (q.turn + step + 1) % len(q.consumers)
                    break
            else:
                return  # every consumer is at its prefetch limit
            message = q.messages.popleft()
            if consumer.acks:
                ack_id = f"{message.id}-{next(_ids)}"
                consumer.unacked[ack_id] = message
                self._pending_acks[ack_id] = (consumer, name)
                self._hand(consumer, message, f"/queue/{name}", ack_id)
            else:
                self._hand(consumer, message, f"/queue/{name}")

    @staticmethod
    def _hand(consumer: _Consumer, message: _Message, destination: str, ack_id: str | None = None) -> None:
        delivery = _delivery(message, destination, consumer.sub.id, ack_id)
        consumer.conn.client._push(consumer.conn, delivery)


def _split(destination: str) -> tuple[str, str]:
    for prefix, kind in (("/queue/", "queue"), ("/amq/queue/", "amq-queue"), ("/topic/", "topic"),
                         ("/reply-queue/", "reply"), ("/exchange/", "exchange")):
        if destination.startswith(prefix) and len(destination) > len(prefix):
            name = destination[len(prefix):]
            return kind, name.replace("/", ".") if kind == "exchange" else name
    raise BrokerUnavailable(f"unknown destination {destination!r}")


def _matches(pattern: list[str], words: list[str]) -> bool:
    """Whether a topic binding's words match a routing key's, as RabbitMQ's topic exchange decides."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_matches(rest, words[skip:]) for skip in range(len(words) + 1))
    return bool(words) and (head in ("*", words[0])) and _matches(rest, words[1:])


def _delivery(message: _Message, destination: str, subscription: str, ack_id: str | None = None) -> Delivery:
    headers = {**message.headers, "destination": destination, "message-id": message.id,
               "subscription": subscription, "redelivered": str(message.redelivered).lower()}
    if ack_id is not None:
        headers["ack"] = ack_id
    return Delivery(message.body, headers, 0)


_brokers: dict[str, MemoryBroker] = {}
_brokers_lock = threading.Lock()


def memory_broker(name: str) -> MemoryBroker:
    """The process's broker called ``name`` (made on first use)."""
    with _brokers_lock:
        return _brokers.setdefault(name, MemoryBroker())


class MemoryClient(BaseClient):
    """A connection to a :class:`MemoryBroker` with :class:`~traitsweb.broker.StompClient`'s surface."""

    def __init__(self, broker: BrokerURL, *, name: str, on_state: Callable[[str], None] | None = None) -> None:
        super().__init__(name=name, on_state=on_state)
        self.user = broker.user
        self.broker = memory_broker(broker.host)
        self._conn: _Connection | None = None
        self._inbox: queue.SimpleQueue[tuple[_Connection, Delivery] | None] = queue.SimpleQueue()

    # -- lifetime -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._receive, name=f"memory-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._disconnect()
        self._inbox.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def drop(self) -> None:
        """Lose the connection as a network failure would, then reconnect (and resubscribe)."""
        self._disconnect()
        self.reconnects += 1
        self._connect()

    # -- operations -------------------------------------------------------------------------------
    def _issue_now(self, sub: Subscription) -> None:
        if self._conn is not None:
            self.broker.subscribe(self._conn, sub)

    def unsubscribe(self, sub: Subscription) -> None:
        """End a subscription (and stop re-issuing it)."""
        with self._lock:
            self._subscriptions.pop(sub.id, None)
            if self._conn is not None:
                self.broker.unsubscribe(self._conn, sub.id)

    def send_async(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> Future[None]:
        future: Future[None] = Future()
        try:
            self._send(destination, body, headers)
        except BrokerUnavailable as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)
        return future

    def publish(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> bool:
        try:
            self._send(destination, body, headers)
        except BrokerUnavailable:
            return False
        return True

    # -- inside -------------------------------------------------------------------------------------
    def _send(self, destination: str, body: str, headers: dict[str, str] | None) -> None:
        conn = self._conn
        if conn is None:
            raise BrokerUnavailable("not connected to the broker")
        stamped = dict(headers or {})
        if self.user is not None:
            stamped["user-id"] = self.user
        self.broker.send(conn, destination, body, stamped)

    def _settle(self, frame: Delivery, requeue: bool | None) -> None:
        conn = self._conn
        if conn is None or frame.generation != conn.generation or "ack" not in frame.headers:
            return  # that connection is gone; the broker has requeued the frame
        self.broker.settle(conn, frame.headers["ack"], requeue=requeue)

    def _connect(self) -> None:
        with self._lock:
            self._generation += 1
            conn = self._conn = self.broker.open(self, self._generation)
            for sub in self._subscriptions.values():
                self.broker.subscribe(conn, sub)
            self.connected.set()
        self._notify("connected")

    def _disconnect(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            self.connected.clear()
            self.broker.close(conn)
        self._notify("disconnected")

    def _push(self, conn: _Connection, delivery: Delivery) -> None:
        """Called by the broker (under its lock): queue a frame for the receiver thread."""
        self._inbox.put((conn, delivery))

    def _receive(self) -> None:
        self._connect()
        while (item := self._inbox.get()) is not None:
            conn, delivery = item
            if conn is not self._conn:
                continue  # sent on a connection that has been lost since
            self._dispatch(Delivery(delivery.body, delivery.headers, conn.generation))
