"""The gateway's hub: shared replies, private messages, waits that end on a message, a deadline or a disconnect."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.gateway.hub import TIMER_RESOLUTION, Hub, Waiter

ALICE, BOB = "a" * 32, "b" * 32


def snapshot(seq: int = 0, epoch: str = "e1") -> str:
    return json.dumps({"type": "snapshot", "epoch": epoch, "seq": seq, "state": {"messages": []}, "schema": {}})


def said(seq: int, text: str, *, to: str | None = None, epoch: str = "e1") -> str:
    message: dict[str, Any] = {"type": "trait_change", "epoch": epoch, "seq": seq, "trait": "messages",
                               "op": "list", "index": seq - 1, "removed": 0, "added": [text]}
    if to is not None:
        message["to"] = to
    return json.dumps(message)


def texts(body: bytes) -> list[str]:
    return [m["added"][0] for m in json.loads(body)["messages"]]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _hub(*messages: str) -> Hub:
    hub = Hub(buffer_size=100, on_gap=lambda: None)
    hub.load_snapshot(snapshot())
    for message in messages:
        hub.feed(message)
    return hub


def test_clients_at_one_position_share_one_reply() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "one"), said(2, "two"))
        first, second = hub.collect(0, "e1", ALICE), hub.collect(0, "e1", BOB)
        assert first is second  # built once
        assert texts(first.body) == ["one", "two"] and first.count == 2 and first.seq == 2
        assert first.text.encode() == first.body
        hub.feed(said(3, "three"))
        third = hub.collect(0, "e1", ALICE)
        assert third is not first and texts(third.body) == ["one", "two", "three"]

    run(main())


def test_a_private_message_reaches_only_its_session() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "public"), said(2, "for alice", to=ALICE))
        assert texts(hub.collect(0, "e1", ALICE).body) == ["public", "for alice"]
        assert texts(hub.collect(0, "e1", BOB).body) == ["public"]
        # Bob, past the public one, has nothing to read yet: his wait skips Alice's message
        batch = await hub.wait(1, "e1", BOB, timeout=0.05)
        assert batch.count == 0 and batch.seq == 2

    run(main())


def test_unknown_epoch_or_a_position_before_the_buffer_is_a_reset() -> None:
    async def main() -> None:
        hub = Hub(buffer_size=100, on_gap=lambda: None)
        hub.load_snapshot(snapshot(seq=5))
        hub.feed(said(6, "six"))
        for since, epoch in ((0, "e1"), (6, "other"), (3, "e1")):
            batch = hub.collect(since, epoch, ALICE)
            assert batch is not None and batch.reset
            assert json.loads(batch.body)["state"] == {"messages": ["six"]}
        assert hub.collect(6, "e1", ALICE) is None

    run(main())


def test_waiters_wake_on_the_next_message_and_leave_nothing_behind() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "one"))
        waits = [asyncio.create_task(hub.wait(1, "e1", ALICE if k % 2 else BOB, timeout=30)) for k in range(50)]
        await asyncio.sleep(0)
        assert hub.waiting == 50
        hub.feed(said(2, "two"))
        batches = await asyncio.gather(*waits)
        assert {texts(b.body)[0] for b in batches} == {"two"} and len({id(b) for b in batches}) == 1
        assert hub.waiting == 0

    run(main())


def test_a_wait_ends_at_its_deadline_within_the_timer_resolution() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "one"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        batch = await hub.wait(1, "e1", ALICE, timeout=0.2)
        elapsed = loop.time() - started
        assert batch.count == 0 and batch.seq == 1 and not batch.reset
        assert 0.2 <= elapsed  # never early
        assert hub.waiting == 0 and not hub._slots  # the slot's timer fired and was dropped

    run(main())
    assert TIMER_RESOLUTION <= 0.05


def test_an_interrupted_wait_returns_at_once_and_stays_interrupted() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "one"))
        waiter = Waiter(hub)
        task = asyncio.create_task(hub.wait(1, "e1", ALICE, timeout=30, waiter=waiter))
        await asyncio.sleep(0)
        waiter.interrupt()
        batch = await asyncio.wait_for(task, 5)
        assert batch.count == 0 and waiter.interrupted
        await asyncio.wait_for(waiter.wait(asyncio.get_running_loop().time() + 30), 5)  # no new wait begins
        assert hub.waiting == 0

    run(main())


def test_no_state_yet_is_an_error_after_the_wait() -> None:
    async def main() -> None:
        hub = Hub(buffer_size=100, on_gap=lambda: None)
        with pytest.raises(LookupError):
            await hub.wait(0, None, ALICE, timeout=0.01)

    run(main())


def test_an_answer_at_once_or_a_zero_timeout_never_suspends() -> None:
    """A poll that is behind, or at the head with ``timeout=0``, is answered in the same loop turn (no wait
    is registered, no timer slot is joined)."""

    def without_suspending(coroutine: Any) -> Any:
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        coroutine.close()
        raise AssertionError("the wait suspended")

    async def main() -> None:
        hub = await _hub(said(1, "one"))
        behind = without_suspending(hub.wait(0, "e1", ALICE, timeout=25))
        assert texts(behind.body) == ["one"]
        at_head = without_suspending(hub.wait(1, "e1", ALICE, timeout=0))
        assert at_head.count == 0 and at_head.seq == 1 and hub.waiting == 0

    run(main())
