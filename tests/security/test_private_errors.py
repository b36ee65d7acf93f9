"""A leaked desktop password reads no browser session's private errors.

A message private to one session goes to that session's routing key, never to the shared out topic
(which carries a placeholder with its ``seq``). RabbitMQ's topic permissions (``deploy/rabbitmq/
definitions.sh``) let a gateway bind the out topic and the keys of browser sessions, and a desktop user
only the out topic and its own sessions' keys: every other SUBSCRIBE is refused with an ERROR frame.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
import pytest

from runner.stack import Stack
from tests.security.test_broker_security import access_refused, frames
from tests.stompclient import Peer
from traitsweb import protocol

pytestmark = pytest.mark.stack

SESSION = uuid.uuid4().hex


def subscribe(stack: Stack, user: str, destination: str) -> str:
    password = stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    return frames(user, password, stack.stomp_port, f"SUBSCRIBE\nid:1\ndestination:{destination}\nreceipt:r1\n\n\0")


@pytest.mark.parametrize(
    "destination",
    [
        "/topic/#",
        "/topic/traitsweb.#",
        "/topic/traitsweb.out.#",
        "/topic/traitsweb.out.*.*",
        f"/topic/traitsweb.out.gateway.{SESSION}",
        "/topic/traitsweb.private.#",
        "/topic/traitsweb.private.desktop.*",
        "/topic/traitsweb.private.desktop.#",
        f"/topic/traitsweb.private.gateway.{SESSION}",
        "/exchange/amq.topic/#",
        "/exchange/amq.topic/traitsweb.out.#",
    ],
)
def test_a_desktop_cannot_bind_other_sessions_private_keys(model_stack: Stack, destination: str) -> None:
    reply = subscribe(model_stack, "desktop", destination)
    assert access_refused(reply), reply


@pytest.mark.parametrize(
    ("user", "destination"),
    [
        ("desktop", protocol.OUT),
        ("desktop", f"/topic/traitsweb.private.desktop.{SESSION}"),
        ("gateway", protocol.OUT),
        ("gateway", protocol.gateway_stream(protocol.OUT)),
    ],
)
def test_each_service_may_bind_what_it_reads(model_stack: Stack, user: str, destination: str) -> None:
    reply = subscribe(model_stack, user, destination)
    assert "RECEIPT" in reply and "ERROR" not in reply, reply


@pytest.mark.parametrize("destination", ["/topic/#", f"/topic/traitsweb.private.desktop.{SESSION}"])
def test_a_gateway_cannot_bind_desktop_sessions_keys(model_stack: Stack, destination: str) -> None:
    assert access_refused(subscribe(model_stack, "gateway", destination))


@pytest.fixture
def gateway(model_stack: Stack) -> Iterator[Peer]:
    with Peer(model_stack.broker_url("gateway"), name="gateway") as peer:
        yield peer


def joined(peer: Peer, name: str) -> str:
    session = peer.login(name)
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
    return session


def test_private_errors_reach_their_session_only(model_stack: Stack, gateway: Peer) -> None:
    desktop_session = uuid.uuid4().hex
    own = protocol.private_destination(protocol.OUT, protocol.PRIVATE, desktop_session, desktop="desktop")
    with Peer(model_stack.broker_url("desktop"), name="desktop", streams=(protocol.OUT, own)) as desktop:
        assert desktop.login("desk", desktop_session) == desktop_session
        desktop.wait_for(lambda m: m.get("trait") == "participants" and desktop_session in m.get("set", {}))
        browser = joined(gateway, "browser")

        refused = gateway.write(browser, "rating_selector", 9)
        error = gateway.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == refused)
        assert error["to"] == browser
        # the desktop saw that seq, as a placeholder that says nothing of the session or the error
        stand_in = desktop.wait_for(lambda m: m["seq"] == error["seq"] and m["epoch"] == error["epoch"])
        assert stand_in == {"type": protocol.PLACEHOLDER, "epoch": error["epoch"], "seq": error["seq"]}

        mine = desktop.write(desktop_session, "rating_selector", 0)
        own_error = desktop.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == mine)
        assert own_error["to"] == desktop_session
        gateway.wait_for(lambda m: m["seq"] == own_error["seq"] and m["type"] == protocol.PLACEHOLDER)

        after = gateway.snapshot()
        assert after["seq"] >= own_error["seq"]
        seqs = [m["seq"] for m in desktop.messages if m["epoch"] == after["epoch"] and m.get("to") is None]
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "the desktop's out topic has a gap"
        assert not [m for m in desktop.messages if m.get("to") not in (None, desktop_session)]
        for peer, session in ((gateway, browser), (desktop, desktop_session)):
            peer.control({"type": "logout", "id": session})


def test_the_gateway_reads_browser_errors_in_seq_order(model_stack: Stack, gateway: Peer) -> None:
    """Private messages and the out topic come through one queue: each message before its placeholder."""
    browser = joined(gateway, "orderly")
    before = gateway.snapshot()
    ids = [gateway.write(browser, "rating_selector", 9) for _ in range(20)]
    last = gateway.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == ids[-1])
    stream = [m for m in gateway.messages if m["type"] != "snapshot" and before["seq"] < m["seq"] <= last["seq"]]
    assert [m["seq"] for m in stream] == list(range(before["seq"] + 1, last["seq"] + 1))
    assert [m.get("msg_id") for m in stream] == ids, "a placeholder came before its message"
    gateway.control({"type": "logout", "id": browser})
