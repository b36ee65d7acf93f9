"""A frame that breaks the model in an unexpected way is rolled back and dead-lettered; the model serves on.

On the input queue the poison is real: JSON may escape a lone UTF-16 surrogate (``"\\ud800"``), Python
decodes it into a ``str`` that Traits accepts, and SQLite then refuses to store the out message it caused
(``UnicodeEncodeError``), after the model had changed and numbered it. Without a roll-back the change stays
in memory, the frame is never acknowledged and every later commit fails the same way. The control queue's
fields refuse such strings when they are parsed, so there a model with a bug in ``login`` is the poison
(``tests/models/fragile.py``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.stompclient import Peer
from tests.wait import wait_until
from traitsweb import protocol
from traitsweb.broker import StompClient
from traitsweb.settings import parse_broker_url

pytestmark = pytest.mark.stack

POISON = "\ud800"


class DeadLetters:
    """Reads the broker's dead-letter queue with the model's credentials (only the model may)."""

    def __init__(self, stack: Stack) -> None:
        self.client = StompClient(parse_broker_url(stack.broker_url("model")), name="dead-letters", heartbeat_ms=5000)
        self.frames: list[tuple[dict[str, str], str]] = []
        self._cond = threading.Condition()

    def __enter__(self) -> DeadLetters:
        self.client.subscribe(protocol.DEAD, self._on_frame)
        self.client.start()
        assert self.client.wait_connected(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _on_frame(self, frame: Any) -> None:
        with self._cond:
            self.frames.append((dict(frame.headers), frame.body))
            self._cond.notify_all()

    def wait_for(self, needle: str, timeout: float = 30.0) -> dict[str, str]:
        with self._cond:
            assert self._cond.wait_for(lambda: any(needle in body for _, body in self.frames), timeout), \
                f"no dead letter containing {needle!r}"
            return next(headers for headers, body in self.frames if needle in body)


@pytest.fixture
def peer(model_stack: Stack) -> Iterator[Peer]:
    with Peer(model_stack.broker_url("gateway")) as p:
        yield p


def assert_numbered_without_gaps(peer: Peer) -> None:
    """Every out message this peer saw follows the one before it: no seq skipped, none used twice."""
    stream = [m for m in peer.messages if m["type"] != "snapshot"]
    seqs = [m["seq"] for m in stream]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert len({m["epoch"] for m in stream}) == 1


def test_a_poison_input_is_dead_lettered_and_the_model_serves_on(model_stack: Stack, peer: Peer) -> None:
    pid = model_stack.pid("model")
    session = peer.login("poisoned")
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
    msg_id = f"poison-{uuid.uuid4().hex}"
    with DeadLetters(model_stack) as dead:
        # json.dumps escapes the surrogate, so the frame itself is plain ASCII JSON
        peer.send_raw(protocol.INPUT, json.dumps({"id": session, "trait": "entry_field", "value": POISON,
                                                  "msg_id": msg_id}))
        marker = f"after the poison {uuid.uuid4().hex[:6]}"
        peer.write(session, "entry_field", marker)
        peer.wait_for(lambda m: m.get("trait") == "messages" and any(a["text"] == marker for a in m["added"]))
        headers = dead.wait_for(msg_id)
    assert headers.get("x-first-death-queue") == "traitsweb.in.quorum"
    assert headers.get("x-first-death-reason") == "rejected"
    texts = [m["text"] for m in peer.snapshot()["state"]["messages"]]
    assert POISON not in texts and marker in texts
    assert_numbered_without_gaps(peer)
    assert model_stack.pid("model") == pid  # served on, not crashed and restarted
    wait_until(lambda: "poison input frame" in model_stack.log("model"), timeout=30, what="the model logging the poison frame")


@pytest.fixture(scope="module")
def fragile_stack(make_stack: Any) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False, serving="tests.models.fragile:create") as stack:
        yield stack


def test_a_poison_control_frame_is_dead_lettered_and_the_model_serves_on(fragile_stack: Stack) -> None:
    pid = fragile_stack.pid("model")
    with Peer(fragile_stack.broker_url("gateway")) as peer, DeadLetters(fragile_stack) as dead:
        first = peer.login("first")
        peer.wait_for(lambda m: m.get("trait") == "participants" and first in m.get("set", {}))
        poisoned = peer.login("crash-me")  # changes participants and names, then raises
        after = peer.login("after-the-poison")
        peer.wait_for(lambda m: m.get("trait") == "participants" and after in m.get("set", {}))
        headers = dead.wait_for(poisoned)
        state = peer.snapshot()["state"]
        assert_numbered_without_gaps(peer)
    assert headers.get("x-first-death-queue") == "traitsweb.control.quorum"
    assert poisoned not in state["participants"] and state["participants"][after] == "after-the-poison"
    assert state["names"] == ["first", "after-the-poison"]
    assert fragile_stack.pid("model") == pid
    assert "poison control frame" in fragile_stack.log("model")
