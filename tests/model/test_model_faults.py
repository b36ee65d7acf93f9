"""Crashes and restarts of the model and the broker: nothing acknowledged is lost, seq continues."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack, stomp_handshake
from tests.stompclient import Peer

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False) as stack:
        yield stack


@pytest.fixture
def peer(stack: Stack) -> Iterator[Peer]:
    with Peer(stack.broker_url("gateway")) as p:
        yield p


def joined(peer: Peer, name: str) -> str:
    session = peer.login(name)
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}), timeout=60)
    return session


def texts(peer: Peer) -> list[str]:
    return [m["text"] for m in peer.snapshot(timeout=60)["state"]["messages"]]


def wait_broker(stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not stomp_handshake("127.0.0.1", stack.stomp_port, "model", stack.secrets["TRAITSWEB_MODEL_PASSWORD"]):
        assert time.monotonic() < deadline, "broker did not come back"
        time.sleep(0.1)


def assert_no_seq_reused(peer: Peer) -> None:
    by_seq: dict[tuple[str, int], dict[str, Any]] = {}
    for message in peer.messages:
        if message["type"] == "snapshot":
            continue
        key = (message["epoch"], message["seq"])
        assert by_seq.setdefault(key, message) == message, f"seq {key} carried two different messages"


def test_kill_9_mid_stream_loses_nothing_acknowledged(stack: Stack, peer: Peer) -> None:
    session = joined(peer, "stream")
    before = peer.snapshot()
    run = uuid.uuid4().hex[:6]
    sent: list[str] = []

    def sender() -> None:
        for n in range(300):
            text = f"{run}-{n}"
            peer.write(session, "entry_field", text)  # returns once the broker confirmed (receipt)
            sent.append(text)

    thread = threading.Thread(target=sender)
    thread.start()
    peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == f"{run}-40")
    old_pid = stack.kill("model", signal.SIGKILL)
    thread.join(120)
    assert len(sent) == 300
    last = f"{run}-299"
    peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == last, timeout=90)
    assert stack.pid("model") != old_pid  # supervisord restarted it
    ours = [t for t in texts(peer) if t.startswith(run + "-")]
    assert ours == sent  # every acknowledged input exactly once, in order
    after = peer.snapshot()
    assert after["epoch"] == before["epoch"] and after["seq"] > before["seq"]
    assert_no_seq_reused(peer)


def test_state_and_seq_survive_a_restart_and_epoch_changes_when_lost(stack: Stack, peer: Peer) -> None:
    session = joined(peer, "persist")
    peer.write(session, "rating_selector", 3)
    peer.wait_for(lambda m: m.get("trait") == "connection_ratings" and m["set"].get(session) == 3)
    before = peer.snapshot()
    stack.stop("model")
    stack.start_program("model")
    after = peer.snapshot(timeout=60)
    assert (after["epoch"], after["seq"], after["state"]) == (before["epoch"], before["seq"], before["state"])

    stack.stop("model")
    for path in (stack.volumes / "model-data").glob("model.sqlite3*"):
        path.unlink()
    stack.start_program("model")
    fresh = peer.snapshot(timeout=60)
    assert fresh["epoch"] != before["epoch"]
    assert fresh["seq"] == 0 and fresh["state"]["messages"] == []


def test_input_queued_while_the_model_is_down_survives_a_broker_restart(stack: Stack, peer: Peer) -> None:
    session = joined(peer, "queued")
    stack.stop("model")
    run = uuid.uuid4().hex[:6]
    queued = [f"{run}-{n}" for n in range(5)]
    for text in queued:
        peer.write(session, "entry_field", text)
    stack.stop("rabbitmq")
    stack.start_program("rabbitmq")
    wait_broker(stack)
    stack.start_program("model")
    assert peer.client.wait_connected(60)
    with Peer(stack.broker_url("gateway")) as fresh:
        assert [t for t in texts(fresh) if t.startswith(run)] == queued


@pytest.mark.parametrize("how", ["graceful", "kill -9"])
def test_model_reconnects_by_itself_after_the_broker_restarts(stack: Stack, peer: Peer, how: str) -> None:
    session = joined(peer, "reconnect")
    if how == "graceful":
        stack.stop("rabbitmq")
        stack.start_program("rabbitmq")
    else:
        stack.kill("rabbitmq", signal.SIGKILL)  # supervisord starts a new node
    wait_broker(stack)
    assert peer.client.wait_connected(60)
    text = f"after broker {how} {uuid.uuid4().hex[:6]}"
    # the session survived in the model's store; its input waits in the durable queue until the model is back
    peer.write(session, "entry_field", text)
    peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == text, timeout=60)
    assert "connected to" in stack.log("model").rsplit("lost the broker connection", 1)[-1]
