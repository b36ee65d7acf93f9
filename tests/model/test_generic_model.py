"""Another model served by the same service: no change to the protocol or the services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.stompclient import Peer

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False, serving="tests.models.counter:create") as stack:
        yield stack


def test_counter_model_over_the_real_broker(stack: Stack) -> None:
    with Peer(stack.broker_url("gateway")) as peer:
        first = peer.snapshot()
        assert first["state"] == {"colours": [], "history": [], "participants": {}, "total": 0}
        properties = first["schema"]["properties"]
        assert properties["colour"] == {"enum": ["red", "green", "blue"], "default": "red", "writeOnly": True}
        assert properties["history"] == {"type": "array", "items": {"type": "integer"}, "readOnly": True}
        assert properties["colours"] == {"type": "array", "items": {"type": "string"}, "uniqueItems": True,
                                         "readOnly": True}
        session = peer.login("counter-user")
        peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
        peer.write(session, "increment", 5)
        peer.write(session, "increment", -2)
        peer.write(session, "colour", "green")
        bad = peer.write(session, "colour", "pink")
        error = peer.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == bad)
        assert error["code"] == "invalid_value" and error["to"] == session
        state = peer.snapshot()["state"]
        assert state["total"] == 3 and state["history"] == [5, 3] and state["colours"] == ["green"]
        ops = {m["op"] for m in peer.messages if m["type"] == "trait_change"}
        assert ops == {"dict", "set", "list", "set_items"}
