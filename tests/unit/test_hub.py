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


def test_a_client_ahead_of_this_replica_keeps_its_position_and_gets_what_follows_it() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "one"), said(2, "two"))
        # it read up to 4 from a replica further on: no reset back to 2, an empty answer at its own position
        batch = await hub.wait(4, "e1", ALICE, timeout=0.05)
        assert not batch.reset and batch.count == 0 and (batch.epoch, batch.seq) == ("e1", 4)
        for seq in (3, 4, 5):
            hub.feed(said(seq, f"m{seq}"))
        batch = await hub.wait(4, "e1", ALICE, timeout=0.05)
        assert texts(batch.body) == ["m5"] and batch.seq == 5 and not batch.reset

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


def test_waiters_wake_once_at_the_last_frame_of_a_change() -> None:
    async def main() -> None:
        hub = await _hub()
        waiter = Waiter(hub)
        task = asyncio.create_task(hub.wait(0, "e1", ALICE, timeout=30, waiter=waiter))
        await asyncio.sleep(0)
        hub.feed(said(1, "append"), more=True)
        hub.feed(said(2, "trim"), more=True)
        for _ in range(5):  # the loop runs: nothing wakes the waiter while the change is incomplete
            await asyncio.sleep(0)
        assert not task.done() and hub.waiting == 1
        hub.feed(said(3, "count"))
        batch = await asyncio.wait_for(task, 5)
        assert texts(batch.body) == ["append", "trim", "count"] and batch.seq == 3

    run(main())


async def _late_replica(history: int = 1000, replay_wait: float = 0.0) -> Hub:
    """A replica that started at seq 5: its buffer holds nothing older."""
    hub = Hub(buffer_size=100, on_gap=lambda: None, history_size=history, replay_wait=replay_wait)
    hub.load_snapshot(snapshot(seq=5))
    return hub


def test_a_client_behind_the_buffer_is_served_from_the_journals_history() -> None:
    async def main() -> None:
        hub = await _late_replica()
        hub.remember("e1", [(n, said(n, f"m{n}", to=BOB if n == 3 else None)) for n in range(1, 6)])
        hub.feed(said(6, "m6"))
        batch = hub.collect(1, "e1", ALICE)
        assert batch is not None and not batch.reset
        assert texts(batch.body) == ["m2", "m4", "m5", "m6"] and batch.seq == 6  # BOB's private m3 left out
        assert texts(hub.collect(2, "e1", BOB).body) == ["m3", "m4", "m5", "m6"]

    run(main())


def test_history_that_does_not_reach_back_far_enough_gives_a_reset() -> None:
    async def main() -> None:
        hub = await _late_replica(history=2)
        hub.remember("e1", [(n, said(n, f"m{n}")) for n in range(1, 6)])  # keeps seq 4 and 5 only
        assert hub.collect(1, "e1", ALICE).reset
        assert texts(hub.collect(3, "e1", ALICE).body) == ["m4", "m5"]
        other = await _late_replica()
        other.remember("e0", [(n, said(n, f"m{n}", epoch="e0")) for n in range(1, 6)])  # another epoch's
        assert other.collect(3, "e1", ALICE).reset

    run(main())


def test_while_the_journal_is_read_a_client_waits_for_it_rather_than_being_reset() -> None:
    async def main() -> None:
        hub = await _late_replica(replay_wait=30.0)
        assert hub.collect(0, "e1", ALICE) is None  # nothing read from the journal yet
        waiting = asyncio.create_task(hub.wait(0, "e1", ALICE, timeout=10))
        await asyncio.sleep(0)
        hub.remember("e1", [(n, said(n, f"m{n}")) for n in range(1, 6)])
        batch = await waiting
        assert not batch.reset and texts(batch.body) == ["m1", "m2", "m3", "m4", "m5"]

    run(main())


def test_with_a_reorder_grace_messages_out_of_order_are_applied_in_order_without_a_gap() -> None:
    """On a cluster a durable queue whose leader moved may deliver a few messages out of order."""
    async def main() -> None:
        gaps: list[int] = []
        hub = Hub(buffer_size=100, on_gap=lambda: gaps.append(1), reorder_grace=0.5)
        hub.load_snapshot(snapshot(seq=5))
        for seq in (7, 8, 6, 9):
            hub.feed(said(seq, f"#{seq}"))
        assert texts(hub.collect(5, "e1", ALICE).body) == ["#6", "#7", "#8", "#9"]
        assert gaps == [] and hub.state.seq == 9

    run(main())


def test_a_placeholder_holds_its_seq_for_nobody() -> None:
    """A desktop session's private message reaches gateways as a placeholder: no gap, nothing to deliver."""
    async def main() -> None:
        gaps: list[int] = []
        hub = Hub(buffer_size=100, on_gap=lambda: gaps.append(1))
        hub.load_snapshot(snapshot())
        for message in (said(1, "one"), json.dumps({"type": "private", "epoch": "e1", "seq": 2}), said(3, "three")):
            hub.feed(message)
        assert not gaps and hub.state.seq == 3
        batch = hub.collect(0, "e1", ALICE)
        assert batch is not None and texts(batch.body) == ["one", "three"] and batch.count == 2
        assert hub.collect(0, "e1", BOB) is batch  # nobody's private message in it: shared
        hub.feed(json.dumps({"type": "private", "epoch": "e1", "seq": 4}))
        alone = hub.collect(3, "e1", ALICE)
        assert alone is not None and alone.count == 0 and alone.seq == 4
        assert (await hub.wait(3, "e1", ALICE, timeout=0)).seq == 4  # skipped past, as other sessions' errors

    run(main())


async def _waiting() -> tuple[Hub, asyncio.Task[Any]]:
    """A hub at seq 0 and a client waiting there (its wait has begun)."""
    hub = await _hub()
    task = asyncio.create_task(hub.wait(0, "e1", ALICE, timeout=30))
    await asyncio.sleep(0)
    return hub, task


def test_a_change_whose_rest_never_comes_still_wakes_its_waiters() -> None:
    async def main() -> None:
        hub, task = await _waiting()
        hub.feed(said(1, "alone"), more=True)  # e.g. the model died before publishing the rest
        batch = await asyncio.wait_for(task, 5)  # ends after MORE_WAIT, long before the 30 s timeout
        assert texts(batch.body) == ["alone"]

    run(main())


def test_a_placeholder_after_its_message_is_stale() -> None:
    async def main() -> None:
        hub = await _hub(said(1, "for alice", to=ALICE), json.dumps({"type": "private", "epoch": "e1", "seq": 1}))
        batch = hub.collect(0, "e1", ALICE)
        assert batch is not None and texts(batch.body) == ["for alice"]

    run(main())


def test_the_placeholder_ending_a_change_wakes_its_waiters_at_once() -> None:
    async def main() -> None:
        hub, task = await _waiting()
        hub.feed(said(1, "for alice", to=ALICE), more=True)  # the private message, then its placeholder, the last
        hub.feed(json.dumps({"type": "private", "epoch": "e1", "seq": 1}))
        for _ in range(5):  # a few loop turns, far less than MORE_WAIT
            await asyncio.sleep(0)
        assert task.done() and texts(task.result().body) == ["for alice"]

    run(main())


def test_a_message_still_missing_after_the_grace_is_a_gap_and_the_snapshot_takes_over() -> None:
    async def main() -> None:
        gap = asyncio.Event()
        hub = Hub(buffer_size=100, on_gap=gap.set, reorder_grace=0.1)
        hub.load_snapshot(snapshot(seq=5))
        hub.feed(said(7, "#7"))
        hub.feed(said(8, "#8"))
        assert not gap.is_set() and hub.state.seq == 5
        await asyncio.wait_for(gap.wait(), 10)
        hub.load_snapshot(snapshot(seq=7))  # the answer: what was held beyond it follows at once
        assert hub.state.seq == 8

    run(main())


def test_without_a_grace_a_gap_is_declared_at_once() -> None:
    async def main() -> None:
        gaps: list[int] = []
        hub = Hub(buffer_size=100, on_gap=lambda: gaps.append(1))
        hub.load_snapshot(snapshot(seq=5))
        hub.feed(said(7, "#7"))
        assert gaps == [1]

    run(main())


def test_without_history_a_client_behind_the_buffer_is_reset() -> None:
    async def main() -> None:
        hub = await _late_replica(history=0)
        hub.remember("e1", [(n, said(n, f"m{n}")) for n in range(1, 6)])
        assert hub.collect(0, "e1", ALICE).reset

    run(main())


def test_a_gap_the_journal_holds_is_filled_from_it_without_a_snapshot() -> None:
    """A frozen node may hold a few out messages for a gateway's old connection while newer ones come
    through its new one: the journal has them, so nobody is reset."""
    async def main() -> None:
        gaps: list[int] = []
        hub = Hub(buffer_size=100, on_gap=lambda: gaps.append(1), history_size=1000)
        hub.load_snapshot(snapshot(seq=5))
        hub.remember("e1", [(n, said(n, f"#{n}", to=BOB if n == 7 else None)) for n in range(1, 9)])
        hub.feed(said(9, "#9"))  # 6..8 never came on the live feed
        assert gaps == [] and hub.state.seq == 9 and hub.from_journal == 3
        assert texts(hub.collect(5, "e1", ALICE).body) == ["#6", "#8", "#9"]  # BOB's private #7 is his only
        assert texts(hub.collect(5, "e1", BOB).body) == ["#6", "#7", "#8", "#9"]
        hub.feed(said(7, "#7", to=BOB))  # the held ones, when the frozen node thaws: stale
        assert gaps == [] and hub.state.seq == 9

    run(main())


def test_a_gap_waiting_for_its_grace_is_bridged_when_the_journal_brings_it() -> None:
    async def main() -> None:
        gaps: list[int] = []
        hub = Hub(buffer_size=100, on_gap=lambda: gaps.append(1), history_size=1000, reorder_grace=5.0)
        hub.load_snapshot(snapshot(seq=5))
        waiting = asyncio.create_task(hub.wait(5, "e1", ALICE, timeout=10))
        await asyncio.sleep(0)
        hub.feed(said(8, "#8"))
        hub.feed(said(9, "#9"))
        assert hub.state.seq == 5 and not waiting.done()
        hub.remember("e1", [(n, said(n, f"#{n}")) for n in range(1, 8)])  # the journal, a moment behind
        batch = await asyncio.wait_for(waiting, 1)
        assert texts(batch.body) == ["#6", "#7", "#8", "#9"] and not batch.reset
        assert gaps == [] and hub.state.seq == 9

    run(main())


def test_a_gap_the_journal_cannot_fill_is_still_a_gap() -> None:
    async def main() -> None:
        gaps: list[int] = []
        hub = Hub(buffer_size=100, on_gap=lambda: gaps.append(1), history_size=1000)
        hub.load_snapshot(snapshot(seq=5))
        hub.remember("e0", [(n, said(n, f"#{n}", epoch="e0")) for n in range(1, 9)])  # another epoch's
        hub.feed(said(9, "#9"))
        assert gaps == [1] and hub.state.seq == 5
        hub.remember("e1", [(n, said(n, f"#{n}")) for n in range(1, 7)])  # reaches 6, not 8
        hub.feed(said(9, "#9"))
        assert gaps == [1, 1] and hub.state.seq == 6  # what it held was taken; the rest is a gap

    run(main())


def test_the_journal_ahead_of_the_live_feed_wakes_the_waiters() -> None:
    """On a cluster a gateway's out queue may deliver nothing for seconds while its leader moves; the journal,
    read from any node, brings the same committed messages, and the live copies are then stale."""
    async def main() -> None:
        hub = Hub(buffer_size=100, on_gap=lambda: None, history_size=1000, reorder_grace=3.0)
        hub.load_snapshot(snapshot(seq=5))
        waiting = asyncio.create_task(hub.wait(5, "e1", ALICE, timeout=10))
        await asyncio.sleep(0)
        hub.remember("e1", [(n, said(n, f"#{n}")) for n in range(1, 8)])
        batch = await asyncio.wait_for(waiting, 1)
        assert texts(batch.body) == ["#6", "#7"] and batch.seq == 7
        for n in (6, 7):
            hub.feed(said(n, f"#{n}"))
        hub.feed(said(8, "#8"))
        assert texts(hub.collect(5, "e1", ALICE).body) == ["#6", "#7", "#8"]

    run(main())
