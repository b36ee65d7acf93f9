"""A leaked desktop password acts as the desktop only: it cannot write, log out or keep alive anyone else.

Each frame carries ``user-id``, which RabbitMQ checks against the connection's login; the model decides
from it what the sender may do. Every attempt below uses a service's real credentials on a real stack;
each refused frame is acknowledged, changes nothing and uses no ``seq``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack, stomp_exchange
from tests.stompclient import Peer
from tests.wait import wait_until
from traitsweb import protocol

pytestmark = pytest.mark.stack

IDLE = 4.0  # seconds: short enough to see an idle logout, long enough for a keep-alive every second


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False, env={"model": {"TRAITSWEB_IDLE_TIMEOUT": str(IDLE)}}) as stack:
        yield stack


@pytest.fixture
def gateway(stack: Stack) -> Iterator[Peer]:
    with Peer(stack.broker_url("gateway"), name="gateway") as peer:
        yield peer


@pytest.fixture
def desktop(stack: Stack) -> Iterator[Peer]:
    with Peer(stack.broker_url("desktop"), name="desktop") as peer:
        yield peer


class KeepAlive:
    """Touches sessions as a gateway does, so only what a test does changes the state."""

    def __init__(self, peer: Peer, *sessions: str) -> None:
        self.peer, self.sessions = peer, list(sessions)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.peer.control({"type": "touch", "ids": self.sessions, "replica": "test"})

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for session in self.sessions:  # leave nothing to time out during the next test
            self.peer.control({"type": "logout", "id": session})
        for session in self.sessions:
            self.peer.wait_for(lambda m, s=session: m.get("trait") == "participants" and s in m.get("removed", []))


def joined(peer: Peer, name: str) -> str:
    session = peer.login(name)
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
    return session


def posted(peer: Peer, text: str) -> dict[str, Any]:
    return peer.wait_for(lambda m: m.get("trait") == "messages" and any(a["text"] == text for a in m["added"]))


def raw_send(stack: Stack, user: str, destination: str, body: str, headers: str = "") -> str:
    """One SEND over a bare STOMP connection (no ``user-id`` unless in ``headers``); the broker's answer."""
    password = stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"]
    data = body.encode()
    return stomp_exchange("127.0.0.1", stack.stomp_port, user, password,
                          f"SEND\ndestination:{destination}\npersistent:true\nreceipt:r1\n{headers}"
                          f"content-length:{len(data)}\n\n".encode() + data + b"\0")


def test_a_desktop_cannot_post_as_a_browser_session(stack: Stack, gateway: Peer, desktop: Peer) -> None:
    browser = joined(gateway, "browser")
    with KeepAlive(gateway, browser):
        before = gateway.snapshot()
        forged = f"forged {uuid.uuid4().hex[:6]}"
        desktop.write(browser, "entry_field", forged)
        desktop.write(browser, "rating_selector", 1)
        desktop.login("squatter", browser)  # logging in again as someone else's session claims nothing
        desktop.write(browser, "entry_field", forged)
        marker = f"marker {uuid.uuid4().hex[:6]}"
        gateway.write(browser, "entry_field", marker)  # the same queue: handled after the forged frames
        assert posted(gateway, marker)["seq"] == before["seq"] + 1  # the forged frames used no seq
        after = gateway.snapshot()
    assert forged not in [m["text"] for m in after["state"]["messages"]]
    assert after["state"]["connection_ratings"].get(browser) == before["state"]["connection_ratings"].get(browser)
    assert after["state"]["participants"][browser] == "browser"
    wait_until(lambda: "desktop may not act for session" in stack.log("model"), timeout=30,
               what="the model logging the refusal")


def test_a_desktop_cannot_log_out_a_browser_session(stack: Stack, gateway: Peer, desktop: Peer) -> None:
    browser = joined(gateway, "stays")
    with KeepAlive(gateway, browser):
        before = gateway.snapshot()
        desktop.control({"type": "logout", "id": browser, "reason": "logout", "msg_id": uuid.uuid4().hex})
        after = gateway.snapshot()  # the control queue is handled in order
        assert after["seq"] == before["seq"]
        assert after["state"] == before["state"] and browser in after["state"]["participants"]


def test_a_desktop_cannot_keep_a_browser_session_alive(stack: Stack, gateway: Peer, desktop: Peer) -> None:
    browser = joined(gateway, "left-alone")
    stop = threading.Event()

    def touch_it() -> None:
        while not stop.wait(0.5):
            desktop.control({"type": "touch", "ids": [browser], "replica": "desktop"})

    toucher = threading.Thread(target=touch_it, daemon=True)
    toucher.start()
    try:  # the model logs the session out as idle: the desktop's touches did not count
        gateway.wait_for(lambda m: m.get("trait") == "participants" and browser in m.get("removed", []),
                         timeout=IDLE * 5)
    finally:
        stop.set()
        toucher.join()


def test_a_desktop_acts_for_its_own_session(stack: Stack, gateway: Peer, desktop: Peer) -> None:
    own = joined(desktop, "desk")
    with KeepAlive(desktop, own):
        text = f"own {uuid.uuid4().hex[:6]}"
        desktop.write(own, "entry_field", text)
        assert posted(desktop, text)["added"][0]["user"] == "desk"
        # and the gateway, acting for browsers, may not act for the desktop's session
        before = gateway.snapshot()
        gateway.write(own, "entry_field", "not yours")
        gateway.control({"type": "logout", "id": own})
        after = gateway.snapshot()
        assert after["seq"] == before["seq"] and own in after["state"]["participants"]


@pytest.mark.parametrize(
    ("user", "headers", "queues"),
    [("gateway", "", (protocol.INPUT, protocol.CONTROL)),
     # the model's user reaches the queues by name only (it answers snapshot requests through the default exchange)
     ("model", "user-id:model\n", ("/amq/queue/traitsweb.in.quorum", "/amq/queue/traitsweb.control.quorum"))],
    ids=["no-user-id", "the-models-own-user"],
)
def test_frames_not_from_a_client_are_refused(stack: Stack, gateway: Peer, user: str, headers: str,
                                              queues: tuple[str, str]) -> None:
    browser = joined(gateway, "quiet")
    with KeepAlive(gateway, browser):
        before = gateway.snapshot()
        forged = f"no sender {uuid.uuid4().hex[:6]}"
        body = json.dumps({"id": browser, "trait": "entry_field", "value": forged, "msg_id": uuid.uuid4().hex})
        assert "RECEIPT" in raw_send(stack, user, queues[0], body, headers)
        logout = json.dumps({"type": "logout", "id": browser})
        assert "RECEIPT" in raw_send(stack, user, queues[1], logout, headers)
        marker = f"marker {uuid.uuid4().hex[:6]}"
        gateway.write(browser, "entry_field", marker)
        assert posted(gateway, marker)["seq"] == before["seq"] + 1
        after = gateway.snapshot()
        assert browser in after["state"]["participants"]
        assert forged not in [m["text"] for m in after["state"]["messages"]]


def test_the_broker_refuses_a_foreign_user_id(stack: Stack) -> None:
    """What makes ``user-id`` trustworthy: RabbitMQ itself checks it against the login."""
    reply = raw_send(stack, "desktop", protocol.INPUT, "{}", "user-id:gateway\n")
    assert "ERROR" in reply and "precondition_failed" in reply and "RECEIPT" not in reply


def test_a_desktop_cannot_use_up_a_browser_sessions_msg_id(stack: Stack, gateway: Peer, desktop: Peer) -> None:
    """The model remembers applied msg_ids per session: a desktop's write under a browser's (future) msg_id
    does not make the browser's own write look like a duplicate."""
    browser = joined(gateway, "later")
    own = joined(desktop, "desk-squat")
    with KeepAlive(gateway, browser), KeepAlive(desktop, own):
        msg_id = f"{browser}-c1"  # what the gateway makes of the browser's msg_id "c1"
        desktop.write(own, "entry_field", "first under that id", msg_id=msg_id)
        posted(desktop, "first under that id")
        text = f"the browser's own {uuid.uuid4().hex[:6]}"
        gateway.write(browser, "entry_field", text, msg_id=msg_id)
        assert posted(gateway, text)["added"][0]["user"] == "later"
