"""RabbitMQ is locked down: no guest, one user per service, each with the narrowest rights that work."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from pathlib import Path

import pika
import pika.exceptions
import pytest

from runner.stack import Stack, stomp_handshake
from tests.stompclient import Peer
from tests.wait import wait_until
from traitsweb import protocol
from traitsweb.broker import Delivery

pytestmark = pytest.mark.stack


def frames(user: str, password: str, port: int, *commands: str) -> str:
    """Send raw STOMP frames after CONNECT and return everything the broker said until it closed or went quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"CONNECT\naccept-version:1.2\nhost:/\nlogin:{user}\npasscode:{password}\n\n\0".encode())
        for command in commands:
            sock.sendall(command.encode())
        sock.settimeout(3)
        received = b""
        try:
            while b"ERROR" not in received and not received.count(b"RECEIPT"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
    return received.decode(errors="replace")


def test_guest_and_wrong_passwords_are_refused(model_stack: Stack) -> None:
    port = model_stack.stomp_port
    assert not stomp_handshake("127.0.0.1", port, "guest", "guest")
    assert not stomp_handshake("127.0.0.1", port, "model", "wrong-password")
    assert not stomp_handshake("127.0.0.1", port, "gateway", model_stack.secrets["TRAITSWEB_MODEL_PASSWORD"])
    for user in ("model", "gateway", "desktop"):
        assert stomp_handshake("127.0.0.1", port, user, model_stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"])


@pytest.mark.parametrize("user", ["gateway", "desktop"])
@pytest.mark.parametrize("queue", ["traitsweb.in.quorum", "traitsweb.control.quorum"])
def test_clients_cannot_consume_the_models_queues(model_stack: Stack, user: str, queue: str) -> None:
    password = model_stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    reply = frames(
        user, password, model_stack.stomp_port,
        f"SUBSCRIBE\nid:1\ndestination:/queue/{queue}\ndurable:true\nauto-delete:false\nreceipt:r1\n\n\0",
    )
    assert "ERROR" in reply and "access_refused" in reply.replace(" ", "_").lower() or "ACCESS_REFUSED" in reply


@pytest.mark.parametrize("user", ["gateway", "desktop"])
def test_clients_cannot_impersonate_the_model_on_the_out_topic(model_stack: Stack, user: str) -> None:
    password = model_stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    fake = protocol.encode(protocol.out_message("snapshot", "forged", 999, state={}))
    reply = frames(
        user, password, model_stack.stomp_port,
        f"SEND\ndestination:{protocol.OUT}\nreceipt:r1\ncontent-length:{len(fake.encode())}\n\n{fake}\0",
    )
    assert "ERROR" in reply and "RECEIPT" not in reply


def test_clients_may_do_what_they_need(model_stack: Stack) -> None:
    with Peer(model_stack.broker_url("desktop")) as peer:  # subscribe out, send in/control, temp reply queue
        session = peer.login("desktop-user")
        peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
        text = f"from the desktop {uuid.uuid4().hex[:6]}"
        peer.write(session, "entry_field", text)
        peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == text)
        assert peer.snapshot()["type"] == "snapshot"


def access_refused(reply: str) -> bool:
    return "ERROR" in reply and "access_refused" in reply and "RECEIPT" not in reply.split("ERROR")[0]


@pytest.mark.parametrize("user", ["gateway", "desktop"])
@pytest.mark.parametrize(
    "frame",
    [
        # SEND to /queue/NAME declares NAME first: that takes configure, which clients no longer have
        "SEND\ndestination:/queue/traitsweb.in.quorum\npersistent:true\nreceipt:r1\n\n{}\0",
        "SEND\ndestination:/queue/traitsweb.control.quorum\npersistent:true\nreceipt:r1\n\n{}\0",
        # a queue of their own choosing, or a topic subscription that would bind the model's queue
        "SUBSCRIBE\nid:1\ndestination:/queue/traitsweb.mine\nreceipt:r1\n\n\0",
        "SUBSCRIBE\nid:1\ndestination:/topic/traitsweb.out\nx-queue-name:traitsweb.in.quorum\nreceipt:r1\n\n\0",
        # the dead letters are the model's
        "SUBSCRIBE\nid:1\ndestination:/amq/queue/traitsweb.dead\nreceipt:r1\n\n\0",
    ],
    ids=["send-declares-in", "send-declares-control", "declare-own-queue", "bind-input-queue", "read-dead-letters"],
)
def test_clients_cannot_declare_or_configure_over_stomp(model_stack: Stack, user: str, frame: str) -> None:
    password = model_stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    reply = frames(user, password, model_stack.stomp_port, frame)
    assert access_refused(reply), reply


@pytest.mark.parametrize(
    "frame",
    [
        # the model consumes its queues by name (/amq/queue): it may declare nothing, not even them again
        "SUBSCRIBE\nid:1\ndestination:/queue/traitsweb.in.quorum\nx-queue-type:quorum\nreceipt:r1\n\n\0",
        "SUBSCRIBE\nid:1\ndestination:/queue/traitsweb.mine\nreceipt:r1\n\n\0",
    ],
    ids=["redeclare-input", "declare-own-queue"],
)
def test_the_model_declares_nothing(model_stack: Stack, frame: str) -> None:
    reply = frames("model", model_stack.secrets["TRAITSWEB_MODEL_PASSWORD"], model_stack.stomp_port, frame)
    assert access_refused(reply), reply


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process ``pid`` listens on (from /proc: its socket inodes in the kernel's tables)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_broker_listens_for_stomp_and_its_cli_only(model_stack: Stack) -> None:
    ports = listening_ports(model_stack.broker_pid())
    assert model_stack.stomp_port in ports
    assert ports <= {model_stack.stomp_port, model_stack.dist_port}, f"unexpected listeners: {ports}"


@pytest.mark.parametrize("user", ["model", "gateway", "desktop"])
def test_no_service_credential_can_delete_or_declare_queues_over_amqp(model_stack: Stack, user: str) -> None:
    """The reproduced attack: AMQP `queue.delete traitsweb.in.quorum` with a service's password."""
    password = model_stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    for port in sorted(listening_ports(model_stack.broker_pid())):
        params = pika.ConnectionParameters(
            "127.0.0.1", port, credentials=pika.PlainCredentials(user, password),
            connection_attempts=1, socket_timeout=5, stack_timeout=5, blocked_connection_timeout=5,
        )
        try:
            connection = pika.BlockingConnection(params)
        except Exception:  # noqa: BLE001 - refused, closed or silent (pika raises each in its own way): no AMQP
            continue
        try:
            channel = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker):
                channel.queue_delete("traitsweb.in.quorum")
            channel = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker):
                channel.queue_declare("traitsweb.mine", durable=True)
        finally:
            if connection.is_open:
                connection.close()
        pytest.fail(f"port {port} speaks AMQP to {user}")


@pytest.mark.parametrize(
    "reply_to",
    ["/topic/traitsweb.out", "/exchange/amq.topic/traitsweb.out", "/queue/traitsweb.in.quorum",
     "/amq/queue/traitsweb.in.quorum", "/reply-queue/traitsweb.in.quorum"],
)
def test_snapshots_go_to_temporary_reply_queues_only(model_stack: Stack, reply_to: str) -> None:
    with Peer(model_stack.broker_url("gateway")) as peer:
        peer.snapshot()  # the model is serving this peer
        published = sum(m["type"] == "snapshot" for m in peer.messages)
        peer.client.send(protocol.CONTROL, protocol.encode({"type": "snapshot_request"}),
                         headers={**protocol.SEND_HEADERS, "reply-to": reply_to})
        peer.snapshot()  # handled after the bad request: same queue, one consumer
        assert sum(m["type"] == "snapshot" for m in peer.messages) == published
    refusal = f"reply-to {reply_to!r} is not a temporary reply queue"
    # the model has handled it (the next request was answered), but its log reaches the file a little later
    wait_until(lambda: refusal in model_stack.log("model"), timeout=30, what=f"the model's log saying {refusal}")


@pytest.mark.parametrize("user", ["gateway", "desktop"])
@pytest.mark.parametrize("queue", ["traitsweb.dead", "traitsweb.in.quorum", "traitsweb.control.quorum"])
def test_clients_send_through_the_traitsweb_exchange_only(model_stack: Stack, user: str, queue: str) -> None:
    """No client may write to the default exchange, which reaches any queue by its name."""
    password = model_stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    reply = frames(user, password, model_stack.stomp_port,
                   f"SEND\ndestination:/amq/queue/{queue}\npersistent:true\nreceipt:r1\n\n{{}}\0")
    assert access_refused(reply), reply


def test_a_client_cannot_send_into_another_connections_reply_queue(model_stack: Stack) -> None:
    """Even knowing a reply queue's server-made name (shown only to its own connection), a desktop cannot
    forge a snapshot into it."""
    replies: list[Delivery] = []
    arrived = threading.Event()

    def on_reply(frame: Delivery) -> None:
        replies.append(frame)
        arrived.set()

    with Peer(model_stack.broker_url("gateway")) as victim:
        victim.client.on_reply("/temp-queue/victim", on_reply)
        victim.client.send(protocol.CONTROL, protocol.encode({"type": "snapshot_request"}),
                           headers={**protocol.SEND_HEADERS, "reply-to": "/temp-queue/victim"})
        assert arrived.wait(30), "no snapshot reply"
        name = replies[0].headers["destination"]  # /queue/amq.gen-...: as a leak would tell it
        assert name.startswith("/queue/amq.gen-"), name
        forged = protocol.encode(protocol.out_message("snapshot", "forged", 999, state={}))
        reply = frames("desktop", model_stack.secrets["TRAITSWEB_DESKTOP_PASSWORD"], model_stack.stomp_port,
                       f"SEND\ndestination:/amq/queue/{name[len('/queue/'):]}\nreceipt:r1\n\n{forged}\0")
        assert access_refused(reply), reply
        victim.snapshot()  # a later reply reached it: nothing forged came before
        assert [json.loads(r.body)["epoch"] for r in replies] == [json.loads(replies[0].body)["epoch"]]
