"""The model service against the real broker (private RabbitMQ node, real stomp.py)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.stompclient import Peer
from tests.wait import wait_until
from traitsweb import protocol

pytestmark = pytest.mark.stack


@pytest.fixture
def peer(model_stack: Stack) -> Peer:
    with Peer(model_stack.broker_url("gateway")) as p:
        yield p


def joined(peer: Peer, name: str) -> str:
    session = peer.login(name)
    peer.wait_for(lambda m: m["type"] == "trait_change" and m["trait"] == "participants" and session in m["set"])
    return session


def test_login_send_and_rate_come_back_in_seq_order(peer: Peer) -> None:
    session = joined(peer, "alice")
    text = f"hello {uuid.uuid4().hex[:6]}"
    peer.write(session, "entry_field", text)
    peer.write(session, "rating_selector", 4)
    posted = peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == text)
    assert posted["added"][0]["user"] == "alice" and posted["op"] == "list" and posted["removed"] == 0
    rated = peer.wait_for(lambda m: m.get("trait") == "connection_ratings" and m["set"].get(session) == 4)
    assert rated["seq"] > posted["seq"]
    stream = [m for m in peer.messages if m["type"] != "snapshot"]
    seqs = [m["seq"] for m in stream]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # strictly increasing by one, no gap
    assert len({m["epoch"] for m in stream}) == 1


def test_snapshot_is_the_full_state_at_its_seq(peer: Peer) -> None:
    session = joined(peer, "bob")
    peer.write(session, "rating_selector", 2)
    last = peer.wait_for(lambda m: m.get("trait") == "connection_ratings" and m["set"].get(session) == 2)
    snapshot = peer.snapshot()
    assert snapshot["type"] == "snapshot" and snapshot["epoch"] == last["epoch"]
    assert snapshot["seq"] >= last["seq"]
    assert snapshot["state"]["participants"][session] == "bob"
    assert snapshot["state"]["connection_ratings"][session] == 2
    assert set(snapshot["state"]) == {"messages", "connection_ratings", "participants", "average_rating"}
    properties = snapshot["schema"]["properties"]
    assert properties["rating_selector"] == {"type": "integer", "minimum": 1, "maximum": 5, "default": 3, "writeOnly": True}
    assert properties["average_rating"] == {"type": "number", "default": 0.0, "readOnly": True}


def test_login_is_idempotent(peer: Peer) -> None:
    session = joined(peer, "carol")
    first = peer.snapshot()
    peer.login("carol", session)
    second = peer.snapshot()
    assert second["seq"] == first["seq"] and second["state"] == first["state"]


def test_duplicate_delivery_applies_once(peer: Peer) -> None:
    session = joined(peer, "dave")
    text = f"once {uuid.uuid4().hex[:6]}"
    msg_id = peer.write(session, "entry_field", text)
    peer.write(session, "entry_field", text, msg_id=msg_id)
    marker = peer.write(session, "entry_field", "after")  # processed after both copies
    peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == "after")
    state = peer.snapshot()["state"]
    assert [m["text"] for m in state["messages"]].count(text) == 1
    assert marker


@pytest.mark.parametrize(
    ("trait", "value", "code"),
    [
        ("rating_selector", 9, "invalid_value"),
        ("rating_selector", "five", "invalid_value"),
        ("entry_field", "", "invalid_value"),
        ("entry_field", ["a"], "invalid_value"),
        ("participants", {}, "not_writable"),
        ("no_such_trait", 1, "not_writable"),
    ],
)
def test_refused_write_is_a_private_error_and_changes_nothing(peer: Peer, trait: str, value: object, code: str) -> None:
    session = joined(peer, "erin")
    before = peer.snapshot()
    msg_id = peer.write(session, trait, value)
    error = peer.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == msg_id)
    assert error["to"] == session and error["code"] == code and error["detail"]
    after = peer.snapshot()
    assert after["state"] == before["state"]
    assert after["seq"] == error["seq"]  # the error was the only out message


def test_unknown_session_gets_an_error(peer: Peer) -> None:
    stranger = uuid.uuid4().hex
    msg_id = peer.write(stranger, "entry_field", "hi")
    error = peer.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == msg_id)
    assert error["to"] == stranger and error["code"] == "unknown_session"


@pytest.mark.parametrize(
    ("destination", "body"),
    [
        (protocol.INPUT, "this is not json"),
        (protocol.INPUT, '{"id": "x"}'),
        (protocol.INPUT, json.dumps({"id": "a" * 32, "trait": "entry_field", "value": "x" * 70_000, "msg_id": "m"})),
        (protocol.CONTROL, '{"type": "login", "id": "not-hex", "name": "mallory"}'),
        (protocol.CONTROL, '{"type": "drop_database"}'),
        (protocol.CONTROL, "[" * 5000),
    ],
)
def test_malformed_frames_are_dropped_and_change_nothing(
    peer: Peer, model_stack: Stack, destination: str, body: str
) -> None:
    before = peer.snapshot()
    peer.send_raw(destination, body)
    after = peer.snapshot()  # the control queue is behind the bad frame: it was handled
    if destination == protocol.INPUT:  # different queue: make sure the bad frame was consumed
        session = joined(peer, "frank")
        peer.write(session, "entry_field", "probe")
        peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == "probe")
        after = peer.snapshot()
        after["state"]["messages"] = after["state"]["messages"][:-1]
        after["state"]["participants"].pop(session)
        before["state"]["participants"].pop(session, None)
    assert after["state"]["messages"] == before["state"]["messages"]
    assert after["state"]["participants"] == before["state"]["participants"]
    wait_until(lambda: "rejected" in model_stack.log("model"), timeout=30, what="the model logging the rejection")


#: the idle-logout stack's timeout: a touch every TOUCH_EVERY s keeps a session alive with a wide margin
IDLE_TIMEOUT = 5.0
TOUCH_EVERY = 0.5


@pytest.fixture(scope="module")
def short_idle_stack(make_stack: Any) -> Iterator[Stack]:
    """A stack of its own for the idle logout, so the shared one can keep its sessions for the whole run."""
    with make_stack(gateways=0, proxy=False, env={"model": {"TRAITSWEB_IDLE_TIMEOUT": str(IDLE_TIMEOUT)}}) as stack:
        yield stack


def test_idle_sessions_are_logged_out_but_touched_ones_stay(short_idle_stack: Stack) -> None:
    with Peer(short_idle_stack.broker_url("gateway")) as peer:
        idle = joined(peer, "sleepy")
        busy = joined(peer, "busy")
        peer.write(idle, "rating_selector", 5)
        peer.wait_for(lambda m: m.get("trait") == "connection_ratings" and m["set"].get(idle) == 5)

        def logged_out(m: dict[str, Any]) -> bool:
            return m.get("trait") == "participants" and idle in m.get("removed", [])

        deadline = time.monotonic() + 10 * IDLE_TIMEOUT
        while True:  # keep `busy` alive until `idle` is gone; each wait ends early on the logout
            peer.control({"type": "touch", "ids": [busy], "replica": "test"})
            if peer.find(logged_out, timeout=TOUCH_EVERY):
                break
            assert time.monotonic() < deadline, "the idle session was never logged out"
        state = peer.snapshot()["state"]
        assert idle not in state["participants"] and idle not in state["connection_ratings"]
        assert busy in state["participants"]


def test_quiet_connections_stay_up(model_stack: Stack) -> None:
    """Regression: stomp.py keeps its 5 s connect timeout on the socket, so every quiet spell reconnected;
    and a read already waiting when the timeout was cleared kept it (1 connection in 40-80 dropped 5 s
    after CONNECTED), so many connections are watched through one quiet spell."""
    from traitsweb.broker import StompClient
    from traitsweb.settings import parse_broker_url

    url = parse_broker_url(model_stack.broker_url("gateway"))
    with contextlib.ExitStack() as stack:
        # the services' default heart-beat (10 s): the broker says nothing for 10 s at a time
        quiet = [stack.enter_context(StompClient(url, name=f"quiet-{i}", heartbeat_ms=10_000)) for i in range(60)]
        assert all(c.wait_connected(30) for c in quiet)
        generations = [c.generation for c in quiet]
        time.sleep(16)  # the quiet spell itself: longer than the connect timeout and a heart-beat interval
        dropped = [c.name for c, g in zip(quiet, generations) if c.generation != g or not c.connected.is_set()]
        assert not dropped, f"dropped while merely quiet: {dropped}"
