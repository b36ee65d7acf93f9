"""RabbitMQ is locked down: no guest, one user per service, each with the narrowest rights that work."""

from __future__ import annotations

import socket
import uuid

import pytest

from runner.stack import Stack, stomp_handshake
from tests.stompclient import Peer
from traitsweb import protocol

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
@pytest.mark.parametrize("queue", ["traitsweb.in", "traitsweb.control"])
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
