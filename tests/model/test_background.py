"""Models that change by themselves: the scheduler, the service's hook, and a ticking model killed mid-stream."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from examples.instrument import Instrument
from tests.inprocess import Served
from tests.stompclient import Peer
from traitsweb.background import Scheduler, start_model
from traitsweb.state import Outcome, State


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def direct(callback: Callable[[], None]) -> None:
    callback()


# -- the scheduler alone, on a fake clock ------------------------------------------------------
def test_every_keeps_to_its_grid_and_skips_ticks_it_fell_behind_on() -> None:
    clock = FakeClock()
    scheduler = Scheduler(direct, clock=clock)
    ticks: list[float] = []
    scheduler.every(0.05, lambda: ticks.append(clock.now))
    assert scheduler.run_due() == pytest.approx(0.05) and ticks == []
    clock.now = 100.06  # a little late: the next tick stays on the grid (100.10)
    assert scheduler.run_due() == pytest.approx(0.04)
    clock.now = 100.50  # far behind: one tick now, none of the missed ones
    scheduler.run_due()
    assert ticks == [100.06, 100.50]
    assert scheduler.run_due() == pytest.approx(0.05)


def test_later_runs_once_and_cancel_stops_a_schedule() -> None:
    clock = FakeClock()
    scheduler = Scheduler(direct, clock=clock)
    calls: list[str] = []
    scheduler.later(0, lambda: calls.append("soon"))
    handle = scheduler.every(1.0, lambda: calls.append("tick"))
    scheduler.run_due()
    clock.now += 1.0
    scheduler.run_due()
    handle.cancel()
    clock.now += 5.0
    assert scheduler.run_due() is None
    assert calls == ["soon", "tick"]


def test_a_failing_callback_is_logged_and_its_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    scheduler = Scheduler(direct, clock=clock)
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise ValueError("sensor glitch")

    scheduler.every(1.0, flaky)
    for _ in range(2):
        clock.now += 1.0
        scheduler.run_due()
    assert len(calls) == 2 and "sensor glitch" in caplog.text


def test_nothing_is_applied_after_close() -> None:
    clock = FakeClock()
    applied: list[Callable[[], None]] = []
    scheduler = Scheduler(applied.append, clock=clock)
    scheduler.every(1.0, lambda: None)
    scheduler.close()
    clock.now += 10
    assert scheduler.run_due() is None and applied == []
    with pytest.raises(RuntimeError):
        scheduler.every(1.0, lambda: None)


def test_a_job_runs_off_the_lock_and_its_result_is_applied_on_it() -> None:
    lock = threading.Lock()
    seen: dict[str, Any] = {}

    def apply(callback: Callable[[], None]) -> None:
        with lock:
            callback()

    def job(x: int) -> int:
        seen["job holds the lock"] = lock.locked()
        seen["job thread"] = threading.current_thread().name
        return x * 2

    def on_result(value: int) -> None:
        seen["result"] = value
        seen["result holds the lock"] = lock.locked()

    with Scheduler(apply) as scheduler:
        future = scheduler.submit(job, 21, on_result=on_result)
        assert future.result(10) == 42
    # the future is done only once on_result has been applied
    assert seen == {"job holds the lock": False, "job thread": seen["job thread"], "result": 42,
                    "result holds the lock": True}
    assert seen["job thread"].startswith("traitsweb-job")


def test_a_failing_job_goes_to_on_error_under_the_lock() -> None:
    errors: list[BaseException] = []
    with Scheduler(direct) as scheduler:
        future = scheduler.submit(lambda: 1 / 0, on_result=lambda _: None, on_error=errors.append)
        with pytest.raises(ZeroDivisionError):
            future.result(10)
    assert len(errors) == 1 and isinstance(errors[0], ZeroDivisionError)


def test_start_model_calls_start_only_if_the_model_has_it() -> None:
    scheduler = Scheduler(direct, clock=FakeClock())
    assert start_model(object(), scheduler) is False
    instrument = Instrument()
    assert start_model(instrument, scheduler) is True
    assert scheduler.run_due() == pytest.approx(0.05)  # its 20 Hz sampling is scheduled


# -- the model service's hook, in-process ---------------------------------------------------------------------
@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[[], Served]]:
    opened: list[Served] = []

    def serve() -> Served:
        opened.append(Served(Instrument(keep=5), tmp_path))
        return opened[-1]

    yield serve
    for one in opened:
        one.close()


def test_background_changes_are_numbered_journaled_and_survive_a_restart(served: Any) -> None:
    one = served()
    service, store, mirror = one.service, one.store, one.mirror
    clock = FakeClock()
    scheduler = Scheduler(service.apply_background, clock=clock)
    start_model(one.model, scheduler)
    for _ in range(8):  # 8 readings, keeping the last 5: the trimming travels as list item changes
        clock.now += 0.05
        scheduler.run_due()
    one.follow()
    trims = [m for m in one.published if m["trait"] == "readings" and m["removed"]]
    assert [(m["index"], m["removed"], m["added"]) for m in trims] == [(0, 1, [])] * 3
    assert mirror.values == service.bridge.state() and mirror.values["samples"] == 8
    assert len(mirror.values["readings"]) == 5
    journal = [json.loads(b) for (b,) in store.db.execute("SELECT body FROM journal ORDER BY seq")]
    assert journal == one.published

    # the model restarts: the journal brings the readings back; the timer starts from now and applies nothing twice
    one.close()
    again = served()
    assert (again.service.epoch, again.service.seq) == (service.epoch, service.seq)
    assert again.mirror.values == mirror.values
    scheduler2 = Scheduler(again.service.apply_background, clock=clock)
    start_model(again.model, scheduler2)
    assert again.published == []  # nothing re-applied at start
    clock.now += 0.05
    scheduler2.run_due()
    again.follow()
    assert again.mirror.values["samples"] == 9 and again.mirror.values == again.service.bridge.state()
    assert again.mirror.values["readings"][:4] == mirror.values["readings"][1:]


def test_what_a_failing_callback_changed_is_still_journaled(served: Any) -> None:
    one = served()
    service, store = one.service, one.store

    def half_done() -> None:
        one.model.samples += 1
        raise RuntimeError("broke halfway")

    with pytest.raises(RuntimeError):
        service.apply_background(half_done)
    assert [m["value"] for m in one.published] == [1]
    assert store.db.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1


def test_ticks_and_client_writes_from_two_threads_share_one_lock(served: Any) -> None:
    one = served()
    session = one.login("ann")
    with Scheduler(one.service.apply_background) as scheduler:
        scheduler.every(0.001, one.model.sample)
        for n in range(300):
            one.write(session, "setpoint", float(n % 100))
        done: Future[None] = Future()
        scheduler.later(0, lambda: done.set_result(None))
        done.result(10)
    one.follow()  # one gap-free sequence: every message numbered exactly once
    assert one.mirror.values == one.service.bridge.state()
    assert one.mirror.values["setpoint"] == 99.0 and one.mirror.values["samples"] > 0
    # every write was handled (each waited for that) and applied once, none refused
    assert len([m for m in one.published if m.get("trait") == "setpoint"]) == 300
    assert not [m for m in one.published if m["type"] == "error"]


# -- a ticking model on the real stack, killed with SIGKILL ------------------------------------------------------
@pytest.mark.stack
def test_a_ticking_model_killed_mid_stream_continues_its_history(make_stack: Any) -> None:
    env = {"model": {"TRAITSWEB_MODEL": "examples.instrument:create"}}
    with make_stack(gateways=0, proxy=False, env=env) as stack, Peer(stack.broker_url("gateway")) as peer:
        base = peer.snapshot()
        session = peer.login("lab")
        peer.write(session, "setpoint", 55.5)  # a client write among the ticks
        peer.wait_for(lambda m: m.get("trait") == "setpoint" and m["value"] == 55.5)
        peer.wait_for(lambda m: m.get("trait") == "samples" and m["value"] >= base["state"]["samples"] + 20)
        old_pid = stack.kill("model", signal.SIGKILL)
        last_seq = peer.messages[-1]["seq"]
        restart = peer.wait_for(lambda m: m["type"] == "snapshot" and m["seq"] >= last_seq, timeout=90)
        peer.wait_for(lambda m: m.get("trait") == "samples" and m["value"] >= restart["state"]["samples"] + 20)
        assert stack.pid("model") != old_pid

        mirror = State()
        mirror.load(base)
        samples: list[int] = []
        restarted = False
        messages = list(peer.messages)
        first_with_seq: dict[int, dict[str, Any]] = {}
        for message in messages:
            if message["type"] != "snapshot":
                first_with_seq.setdefault(message["seq"], message)
        for message in messages:
            assert message["epoch"] == base["epoch"]  # the history goes on: no reset for anyone
            if message is restart:
                # what the journal restored is what was published, plus at most the one commit cut off by the kill
                if message["seq"] == mirror.seq:
                    assert message["state"] == mirror.values
                assert 0 <= message["seq"] - mirror.seq <= 3
                assert message["state"]["samples"] - samples[-1] in (0, 1)
                if message["state"]["samples"] != samples[-1]:
                    samples.append(message["state"]["samples"])
                mirror.load(message)
                restarted = True
            elif message["type"] == "trait_change":
                outcome = mirror.apply(message)
                if outcome is Outcome.GAP:
                    # the new process may publish a tick before its start-up snapshot; that snapshot covers it
                    assert not restarted and message["seq"] <= restart["seq"], message
                    continue
                # stale: from before the test, or published again by the restarted model (the newest committed
                # messages, in case the killed one died between a commit and its publication): the same message
                assert outcome is Outcome.APPLIED or (outcome is Outcome.STALE and (
                    message["seq"] <= base["seq"] or first_with_seq[message["seq"]] == message))
                if message["trait"] == "samples" and outcome is Outcome.APPLIED:
                    samples.append(message["value"])
        # one tick, one sample: consecutive through the crash, none applied twice, none skipped
        assert samples == sorted(set(samples)) and samples == list(range(samples[0], samples[-1] + 1))
        final = peer.snapshot()
        assert final["state"]["setpoint"] == 55.5 and final["seq"] >= mirror.seq
        assert len(final["state"]["readings"]) == min(200, final["state"]["samples"])
