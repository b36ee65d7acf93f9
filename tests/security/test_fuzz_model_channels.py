"""Malformed frames thrown at the model's channels: no crash, no change, the model keeps serving."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.stack import Stack
from tests.stompclient import Peer
from traitsweb import protocol

pytestmark = pytest.mark.stack

SID = st.one_of(st.just("a" * 32), st.text(max_size=40), st.integers(), st.none())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
near_valid_input = st.fixed_dictionaries(
    {"id": SID, "trait": st.one_of(st.sampled_from(["entry_field", "rating_selector", "participants", "__class__"]), st.text(max_size=80)), "value": json_values, "msg_id": st.one_of(st.text(max_size=80), st.integers())},
    optional={"extra": json_values},
)
near_valid_control = st.fixed_dictionaries(
    {"type": st.sampled_from(["login", "logout", "touch", "snapshot_request", "shutdown", ""])},
    optional={"id": SID, "name": st.text(max_size=100), "ids": st.lists(SID, max_size=4), "reason": json_values},
)
bodies = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=300),
    json_values.map(json.dumps),
    near_valid_input.map(json.dumps),
    near_valid_control.map(json.dumps),
    st.integers(0, 3000).map(lambda n: "[" * n + "]" * n),
)


@pytest.fixture(scope="module")
def peer(model_stack: Stack) -> Iterator[Peer]:
    with Peer(model_stack.broker_url("gateway")) as p:
        yield p


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(destination=st.sampled_from([protocol.INPUT, protocol.CONTROL]), body=bodies)
def test_fuzzed_frames(peer: Peer, destination: str, body: str) -> None:
    peer.send_raw(destination, body)


def test_after_the_fuzzing_the_model_is_the_same_process_and_still_serves(model_stack: Stack, peer: Peer) -> None:
    pid = model_stack.pid("model")
    session = peer.login("after-fuzz")
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}), timeout=60)
    text = f"still here {uuid.uuid4().hex[:6]}"
    peer.write(session, "entry_field", text)
    peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == text, timeout=60)
    assert model_stack.pid("model") == pid, "the model restarted: a frame crashed it"
    assert "Traceback" not in model_stack.log("model")
    state: dict[str, Any] = peer.snapshot()["state"]
    # fuzzed logins could only use well-formed session ids and names; nothing else may have changed
    for name in state["participants"].values():
        assert 1 <= len(name) <= 64
