"""Malformed frames thrown at the model's channels: no crash, no change, the model keeps serving.

Every fuzzed frame is garbage by construction: it never names a logged-in session, and its control
messages never carry a well-formed session id, so no frame may log anyone in or out or write a trait.
The one legitimate answer is a private ``error`` to an unknown session (an input frame of the right shape
from :data:`STRANGER`), and each of those takes exactly one ``seq``.
"""

from __future__ import annotations

import json
import re
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

#: a well-formed session id the model never saw: input frames from it are refused as ``unknown_session``
STRANGER = "0" * 32
_WELL_FORMED = re.compile(r"[0-9a-f]{32}")
#: session ids that are not: near misses and anything else
BAD_SID = st.one_of(
    st.sampled_from(["A" * 32, "a" * 31, "a" * 33, "g" * 32, " " + "a" * 32, "a" * 32 + "\n", ""]),
    st.text(max_size=40).filter(lambda s: not _WELL_FORMED.fullmatch(s)),
    st.integers(),
    st.none(),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
near_valid_input = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just(STRANGER), BAD_SID),
        "trait": st.one_of(st.sampled_from(["entry_field", "rating_selector", "participants", "__class__"]), st.text(max_size=80)),
        "value": json_values,
        "msg_id": st.one_of(st.text(max_size=80), st.integers()),
    },
    optional={"extra": json_values},
)
near_valid_control = st.fixed_dictionaries(
    {"type": st.sampled_from(["login", "logout", "touch", "snapshot_request", "shutdown", ""])},
    optional={"id": BAD_SID, "name": st.text(max_size=100), "ids": st.lists(BAD_SID, max_size=4), "reason": json_values},
)
bodies = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=300),
    json_values.map(json.dumps),
    near_valid_input.map(json.dumps),
    near_valid_control.map(json.dumps),
    st.integers(0, 3000).map(lambda n: "[" * n + "]" * n),
)


@pytest.fixture
def peer(model_stack: Stack) -> Iterator[Peer]:
    with Peer(model_stack.broker_url("gateway")) as p:
        yield p


def drained(peer: Peer) -> dict[str, Any]:
    """The snapshot after every frame sent so far on both queues was handled.

    The input queue is drained by a frame from :data:`STRANGER` behind the others (its error comes after
    theirs), the control queue by the snapshot request itself.
    """
    marker = peer.write(STRANGER, "entry_field", "drain")
    peer.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == marker, timeout=120)
    return peer.snapshot(timeout=60)


def test_fuzzed_frames_change_nothing_and_crash_nothing(model_stack: Stack, peer: Peer) -> None:
    pid = model_stack.pid("model")  # before: a crash would bring a new pid (supervisord restarts the model)
    before = drained(peer)
    first = len(peer.messages)
    sent = {"frames": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(destination=st.sampled_from([protocol.INPUT, protocol.CONTROL]), body=bodies)
    def fuzz(destination: str, body: str) -> None:
        peer.send_raw(destination, body)
        sent["frames"] += 1

    fuzz()
    after = drained(peer)

    assert model_stack.pid("model") == pid, "the model restarted: a frame crashed it"
    assert "Traceback" not in model_stack.log("model")
    assert after["epoch"] == before["epoch"]
    assert after["state"] == before["state"]  # messages, ratings, participants: all unchanged
    published = [m for m in peer.messages[first:] if m["type"] != "snapshot"]
    strays = [m for m in published if m["type"] != "error" or m.get("to") != STRANGER]
    assert not strays, f"garbage made the model publish {strays[:3]}"
    assert after["seq"] == before["seq"] + len(published), "seq moved without an out message"
    assert [m["seq"] for m in published] == list(range(before["seq"] + 1, after["seq"] + 1))
    assert sent["frames"] >= 400

    session = peer.login("after-fuzz")  # and it still serves
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}), timeout=60)
    text = f"still here {uuid.uuid4().hex[:6]}"
    peer.write(session, "entry_field", text)
    peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == text, timeout=60)
    assert model_stack.pid("model") == pid
