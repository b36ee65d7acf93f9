"""The minimal consumer in docs/protocol.md (examples/stomp_consumer.py, plain stomp.py) against the real
broker and model: the snapshot reply arrives as documented, and the state it follows is the model's."""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

import pytest

from examples import stomp_consumer
from runner.stack import ROOT, Stack
from tests.stompclient import Peer



def test_the_page_shows_the_tested_code() -> None:
    """Every statement of docs/protocol.md's consumer snippet is in examples/stomp_consumer.py."""
    doc = (ROOT / "docs/protocol.md").read_text().split("### Snapshot replies to a temporary queue", 1)[1]
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    example = (ROOT / "examples/stomp_consumer.py").read_text()
    for line in snippet.splitlines():
        code = line.split("#", 1)[0].strip()
        assert not code or code in example, f"docs/protocol.md shows {code!r}, which the example does not do"


@pytest.mark.stack
def test_the_documented_consumer_follows_the_model(model_stack: Stack) -> None:
    marker = f"foreign {uuid.uuid4().hex[:8]}"
    states: list[tuple[dict[str, Any], int, dict[str, str]]] = []
    first = threading.Event()
    session: dict[str, str] = {}

    def on_state(state: dict[str, Any], seq: int, headers: dict[str, str]) -> bool:
        states.append((copy.deepcopy(state), seq, dict(headers)))
        first.set()
        return any(m["text"] == marker for m in state["messages"]) and \
            state["connection_ratings"].get(session.get("id", "")) == 4

    errors: list[BaseException] = []

    def run() -> None:
        try:
            stomp_consumer.follow(model_stack.broker_url("desktop"), on_state)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)

    consumer = threading.Thread(target=run, daemon=True)
    consumer.start()
    assert first.wait(30), errors
    _, _, headers = states[0]
    # as docs/protocol.md says: the reply's subscription is the reply-to name, its destination the broker's queue
    assert headers["subscription"] == stomp_consumer.REPLY_TO
    assert headers["destination"].startswith("/queue/amq.gen-")

    with Peer(model_stack.broker_url("gateway")) as peer:
        session["id"] = peer.login("foreigner")
        peer.wait_for(lambda m: m.get("trait") == "participants" and session["id"] in (m.get("set") or {}))
        peer.write(session["id"], "entry_field", marker)
        peer.write(session["id"], "rating_selector", 4)
        consumer.join(30)
        assert not consumer.is_alive() and not errors, errors
        state, seq, _ = states[-1]
        snapshot = peer.snapshot()
        if snapshot["seq"] == seq:
            assert state == snapshot["state"]
        else:  # the shared stack moved on (an idle logout): the consumer's view is a prefix of the model's
            assert snapshot["seq"] > seq and snapshot["state"]["messages"][: len(state["messages"])] == state["messages"]
