"""The broker client's contract, one body for the in-memory broker and (marked ``stack``) a private RabbitMQ node.

Users are the stack's (model consumes the queues and publishes the topic; gateway and desktop send and
subscribe); the memory broker ignores them. Waits are on a Condition, never on sleeps.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from traitsweb import protocol
from traitsweb.broker import BrokerClient, BrokerUnavailable, Delivery, connect
from traitsweb.memory import memory_broker
from traitsweb.settings import parse_broker_url

Urls = Callable[[str], str]


@pytest.fixture(scope="module", params=["memory", pytest.param("rabbitmq", marks=pytest.mark.stack)])
def urls(request: pytest.FixtureRequest) -> Iterator[Urls]:
    """``urls(user)``: the broker URL for that user."""
    if request.param == "memory":
        name = f"test-{uuid.uuid4().hex[:8]}"
        yield lambda user: f"memory://{user}@{name}"
        return
    make_stack = request.getfixturevalue("make_stack")
    with make_stack(gateways=0, proxy=False, model=False) as stack:
        yield stack.broker_url


class Inbox:
    """Collects one client's deliveries carrying this test's ``tag``; acks anything else at once."""

    def __init__(self, tag: str, *, auto_ack: bool = False, cond: threading.Condition | None = None) -> None:
        """``cond``: share one with other inboxes to wait on what they got together."""
        self.tag = tag
        self.auto_ack = auto_ack
        self.client: BrokerClient | None = None
        self.frames: list[Delivery] = []
        self._cond = cond or threading.Condition()

    def __call__(self, frame: Delivery) -> None:
        assert self.client is not None
        if not frame.body.startswith(self.tag):
            if "ack" in frame.headers:
                self.client.ack(frame)  # left over from another test
            return
        if self.auto_ack:
            self.client.ack(frame)
        with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()

    @property
    def bodies(self) -> list[str]:
        with self._cond:
            return [f.body for f in self.frames]

    def until(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def wait(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        assert self.until(done, timeout), f"not reached; got {self.bodies}"


@pytest.fixture
def client(urls: Urls) -> Iterator[Callable[..., BrokerClient]]:
    """``client(user, on_state=None)``: a started, connected client, closed after the test."""
    made: list[BrokerClient] = []

    def factory(user: str, *, on_state: Callable[[str], None] | None = None) -> BrokerClient:
        c = connect(parse_broker_url(urls(user)), name=f"test-{user}", heartbeat_ms=5000, on_state=on_state)
        made.append(c)
        c.start()
        assert c.wait_connected(30)
        return c

    yield factory
    for c in made:
        c.close()


def consume(c: BrokerClient, inbox: Inbox, destination: str = protocol.INPUT, prefetch: int = 0) -> None:
    inbox.client = c
    headers = {"prefetch-count": str(prefetch)} if prefetch else {}
    c.subscribe(protocol.consuming(destination), inbox, ack="client-individual", headers=headers)


def tag() -> str:
    return uuid.uuid4().hex[:10]


def test_connect_picks_the_implementation_by_url() -> None:
    from traitsweb.broker import StompClient
    from traitsweb.memory import MemoryClient

    assert isinstance(connect(parse_broker_url("memory://x"), name="a"), MemoryClient)
    assert isinstance(connect(parse_broker_url("stomp://u:p@127.0.0.1:1"), name="b"), StompClient)
    with pytest.raises(ValueError):
        parse_broker_url("redis://localhost")


def test_a_queue_gives_each_message_to_one_consumer(client: Any) -> None:
    run = tag()
    both = threading.Condition()
    inboxes = [Inbox(run, auto_ack=True, cond=both), Inbox(run, auto_ack=True, cond=both)]
    for inbox in inboxes:
        consume(client("model"), inbox)
    sender = client("gateway")
    sent = [f"{run} {n}" for n in range(20)]
    for body in sent:
        sender.send(protocol.INPUT, body, headers=protocol.SEND_HEADERS)  # returns after the receipt
    inboxes[0].wait(lambda: len(inboxes[0].frames) + len(inboxes[1].frames) >= len(sent))
    got = inboxes[0].bodies + inboxes[1].bodies
    assert sorted(got) == sorted(sent)  # each once, none to both
    for inbox in inboxes:
        assert inbox.bodies == [b for b in sent if b in inbox.bodies]  # in order per consumer
        assert all(f.generation == inbox.client.generation for f in inbox.frames)  # type: ignore[union-attr]


def test_prefetch_bounds_unacknowledged_deliveries(client: Any) -> None:
    """A consumer with ``prefetch-count: 1`` holds one unacknowledged frame however many are queued: when its
    connection ends, that one alone comes again (redelivered) to the next consumer. On RabbitMQ the model's
    queues have a single active consumer, so the next one receives only then; the memory broker hands the
    others round at once. Either way: every frame once, and only the held one redelivered."""
    run = tag()
    slow, fast = Inbox(run), Inbox(run, auto_ack=True)
    holder = client("model")
    consume(holder, slow, prefetch=1)
    sender = client("gateway")
    sent = [f"{run} {n}" for n in range(10)]
    for body in sent:
        sender.send(protocol.INPUT, body, headers=protocol.SEND_HEADERS)
    slow.wait(lambda: len(slow.frames) == 1)
    consume(client("model"), fast)
    holder.close()
    fast.wait(lambda: len(fast.frames) == 10)
    assert len(slow.frames) == 1 and sorted(fast.bodies) == sorted(sent)
    assert [f.body for f in fast.frames if f.headers["redelivered"] == "true"] == slow.bodies


def test_nack_and_a_lost_connection_redeliver(client: Any) -> None:
    run = tag()
    first = Inbox(run)
    consume(client("model"), first, prefetch=5)
    client("gateway").send(protocol.INPUT, f"{run} once", headers=protocol.SEND_HEADERS)
    first.wait(lambda: len(first.frames) == 1)
    assert first.frames[0].headers["redelivered"] == "false"
    assert first.client is not None
    first.client.nack(first.frames[0])
    first.wait(lambda: len(first.frames) == 2)
    assert first.frames[1].body == f"{run} once" and first.frames[1].headers["redelivered"] == "true"
    first.client.close()  # without acking: the broker gives it to the next consumer
    second = Inbox(run, auto_ack=True)
    consume(client("model"), second)
    second.wait(lambda: len(second.frames) == 1)
    assert second.bodies == [f"{run} once"] and second.frames[0].headers["redelivered"] == "true"


def test_acking_a_delivery_of_a_lost_connection_is_skipped(client: Any) -> None:
    run = tag()
    old = Inbox(run)
    model = client("model")
    consume(model, old)
    client("gateway").send(protocol.INPUT, f"{run} x", headers=protocol.SEND_HEADERS)
    old.wait(lambda: len(old.frames) == 1)
    stale = old.frames[0]
    model.close()
    model.ack(stale)  # must not raise, and must not settle anything on a later connection


def test_a_topic_fans_out_to_every_subscriber(client: Any) -> None:
    run = tag()
    readers = [Inbox(run), Inbox(run)]
    for user, inbox in zip(("gateway", "desktop"), readers):
        inbox.client = client(user)
        inbox.client.subscribe(protocol.OUT, inbox)
    publisher = client("model")
    # a topic drops what nobody is subscribed to yet: probe until both subscriptions are live
    deadline = time.monotonic() + 20
    for reader in readers:
        while not reader.frames:
            assert time.monotonic() < deadline, "the subscription never became live"
            publisher.send(protocol.OUT, f"{run} probe", headers={"content-type": "text/plain"})
            reader.until(lambda r=reader: bool(r.frames), timeout=0.2)
    sent = [f"{run} {n}" for n in range(10)]
    for body in sent:
        assert publisher.publish(protocol.OUT, body)
    for reader in readers:
        reader.wait(lambda r=reader: sent[-1] in r.bodies)
        assert [b for b in reader.bodies if not b.startswith(f"{run} probe")] == sent


def test_a_reply_to_a_temp_queue_reaches_its_asker(client: Any) -> None:
    run = tag()
    asker, other = client("gateway"), client("desktop")
    replies, strays = Inbox(run), Inbox(run)
    replies.client, strays.client = asker, other
    asker.on_reply("/temp-queue/answers", replies)
    other.on_reply("/temp-queue/answers", strays)  # same name, another connection: not its answer
    model = client("model")
    requests = Inbox(run)
    consume(model, requests, protocol.CONTROL)
    asker.send(protocol.CONTROL, f"{run} question", headers={**protocol.SEND_HEADERS, "reply-to": "/temp-queue/answers"})
    requests.wait(lambda: len(requests.frames) == 1)
    request = requests.frames[0]
    reply_to = request.headers["reply-to"]
    assert reply_to != "/temp-queue/answers"  # the broker names the asker's own reply queue
    model.send(reply_to, f"{run} answer", headers={"content-type": "text/plain"})
    model.ack(request)
    replies.wait(lambda: replies.bodies == [f"{run} answer"])
    assert not strays.frames


def test_state_changes_and_sends_while_disconnected(client: Any) -> None:
    states: list[str] = []
    c = client("gateway", on_state=states.append)
    c.close()
    assert states[-1] == "disconnected" and not c.connected.is_set()
    assert not c.publish(protocol.INPUT, "x")
    with pytest.raises(BrokerUnavailable):
        c.send(protocol.INPUT, "x", timeout=1)


def test_the_memory_broker_says_when_what_was_sent_is_settled() -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    destination = f"/queue/settle-{tag()}"
    got: list[Delivery] = []
    delivered = threading.Event()

    def on_frame(frame: Delivery) -> None:
        got.append(frame)
        delivered.set()

    with connect(parse_broker_url(f"memory://model@{name}"), name="model") as model, \
            connect(parse_broker_url(f"memory://gateway@{name}"), name="gateway") as gateway:
        model.subscribe(destination, on_frame, ack="client-individual")
        assert model.wait_connected(5) and gateway.wait_connected(5)
        gateway.send(destination, "one")
        assert delivered.wait(5)
        broker = memory_broker(name)
        assert not broker.wait_settled(destination, 0.01)  # delivered, not yet acknowledged
        model.ack(got[0])
        assert broker.wait_settled(destination, 5)


def test_a_topic_pattern_reads_its_keys_in_the_order_sent(client: Any) -> None:
    """A gateway's one subscription (``traitsweb.out.#``) has the out topic and browser sessions' private
    messages in the order the model sent them, and no desktop session's."""
    run = tag()
    inbox = Inbox(run)
    inbox.client = client("gateway")
    inbox.client.subscribe(protocol.gateway_stream(protocol.OUT), inbox)
    publisher = client("model")
    session = uuid.uuid4().hex
    browser = protocol.private_destination(protocol.OUT, protocol.PRIVATE, session, desktop=None)
    desktop = protocol.private_destination(protocol.OUT, protocol.PRIVATE, session, desktop="desktop")
    deadline = time.monotonic() + 20
    while not inbox.frames:
        assert time.monotonic() < deadline, "the subscription never became live"
        publisher.send(protocol.OUT, f"{run} probe", headers={"content-type": "text/plain"})
        inbox.until(lambda: bool(inbox.frames), timeout=0.2)
    sent = []
    for n in range(10):
        assert publisher.publish(desktop, f"{run} {n} for a desktop session")
        for destination in (browser, protocol.OUT):
            sent.append(f"{run} {n} {destination}")
            assert publisher.publish(destination, sent[-1])
    inbox.wait(lambda: sent[-1] in inbox.bodies)
    assert [b for b in inbox.bodies if not b.startswith(f"{run} probe")] == sent


def test_a_dead_node_in_the_list_is_passed_over(urls: Urls) -> None:
    """Whichever node of the list it starts at, the client ends on the live one and works there."""
    from traitsweb.broker import StompClient

    url = urls("model")  # the model may publish to the out topic
    if not url.startswith("stomp://"):
        pytest.skip("the memory broker has no nodes")
    login, live = url.removeprefix("stomp://").rsplit("@", 1)
    dead = free_port_nobody_listens_on()
    broker = parse_broker_url(f"stomp://{login}@127.0.0.1:{dead},{live},127.0.0.1:{dead}")
    for _ in range(3):  # the first node is random: a few starts try the dead one first
        with StompClient(broker, name="rotation", heartbeat_ms=5000, backoff=(0.05, 1.0)) as c:
            assert c.wait_connected(30)
            assert c.node is not None and f"{c.node[0]}:{c.node[1]}" == live
            c.send(protocol.OUT, f"rotation {tag()}")  # a key the model may publish to


def free_port_nobody_listens_on() -> int:
    import socket

    with socket.socket() as sock:  # bound, never listening: a connect is refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
