"""A frozen broker (SIGSTOP) is noticed through heart-beats, and everything recovers after SIGCONT."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.faults.freeze import frozen
from tests.stompclient import Peer
from tests.wait import wait_until

pytestmark = pytest.mark.stack

HEARTBEAT_MS = 5000


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False, env={"*": {"TRAITSWEB_HEARTBEAT_MS": str(HEARTBEAT_MS)}}) as stack:
        yield stack


def wait_log(stack: Stack, name: str, pattern: str, start: int, timeout: float) -> float:
    """Seconds until ``pattern`` appears in ``name``'s log after byte offset ``start``."""
    began = time.monotonic()
    wait_until(lambda: re.search(pattern, stack.log(name)[start:]), timeout=timeout, what=f"{name} logging {pattern!r}")
    return time.monotonic() - began


def test_freeze_for_30_s_is_noticed_and_healed(stack: Stack) -> None:
    with Peer(stack.broker_url("gateway")) as peer:
        session = peer.login("frozen")
        peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
        offset = len(stack.log("model"))
        with frozen(stack, "rabbitmq"):
            noticed = wait_log(stack, "model", "connection lost", offset, timeout=3 * HEARTBEAT_MS / 1000)
        wait_log(stack, "model", "connected to", offset, timeout=60)
        assert peer.client.wait_connected(60)
        text = f"thawed {uuid.uuid4().hex[:6]}"
        peer.write(session, "entry_field", text)
        peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"] and m["added"][0]["text"] == text, 60)
        print(f"model noticed the frozen broker after {noticed:.1f} s (heart-beat {HEARTBEAT_MS} ms)")
