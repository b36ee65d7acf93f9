"""Each example served by the unchanged model service: a client write and a change the model makes by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.stack import Stack
from services.model.chat import Chat
from tests.inprocess import Served
from tests.webclient import WebClient
from traitsweb.background import Scheduler, start_model
from traitsweb.factory import load_model


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    opened: list[Served] = []

    def factory(spec: str) -> Served:
        opened.append(Served(load_model(spec), tmp_path))
        return opened[-1]

    yield factory
    for one in opened:
        one.close()


def test_the_chat_example_is_the_chat(serve: Any) -> None:
    chat = serve("examples.chat:create")
    assert isinstance(chat.model, Chat)
    session = chat.login("ann")
    chat.write(session, "entry_field", "hello")
    bad = chat.write(session, "rating_selector", 9)
    chat.follow()
    assert [m["text"] for m in chat.mirror.values["messages"]] == ["hello"]
    error = next(m for m in chat.published if m["type"] == "error")
    assert (error["msg_id"], error["code"], error["to"]) == (bad, "invalid_value", session)
    assert start_model(chat.model, Scheduler(lambda f: f())) is False  # the chat only changes on writes


def test_the_instrument_follows_its_setpoint_and_summarises_itself(serve: Any) -> None:
    lab = serve("examples.instrument:create")
    clock = FakeClock()
    scheduler = Scheduler(lab.service.apply_background, clock=clock)
    start_model(lab.model, scheduler)
    session = lab.login("ann")
    lab.write(session, "setpoint", 60.0)
    lab.write(session, "mode", "sine")
    refused = lab.write(session, "setpoint", 150)
    try:
        for _ in range(20):  # one second of readings at 20 Hz; then the analysis runs, on a worker
            clock.now += 0.05
            scheduler.run_due()
        clock.now += 0.01
        scheduler.run_due()
        lab.wait_for(lambda m: m.get("trait") == "statistics")
    finally:
        scheduler.close()
    lab.follow()
    state = lab.mirror.values
    assert state["setpoint"] == 60.0 and state["mode"] == "sine" and state["samples"] == 20
    assert 50 < state["readings"][-1] < 70  # the sine around the setpoint
    assert set(state["statistics"]) == {"mean", "min", "max", "stdev"}
    error = next(m for m in lab.published if m["type"] == "error")
    assert error["msg_id"] == refused and error["trait"] == "setpoint"
    lab.write(session, "running", False)
    clock.now += 1.0
    before = len(lab.published)
    scheduler2 = Scheduler(lab.service.apply_background, clock=clock)
    start_model(lab.model, scheduler2)
    clock.now += 1.0
    scheduler2.run_due()
    assert [m["trait"] for m in lab.published[before:]] == []  # stopped: no readings


def test_the_task_board_adds_completes_and_archives_by_itself(serve: Any) -> None:
    board = serve("examples.taskboard:create")
    clock = FakeClock()
    board.model.clock = clock
    scheduler = Scheduler(board.service.apply_background, clock=clock)
    start_model(board.model, scheduler)
    session = board.login("ann")
    board.write(session, "new_task", "Order reagents #lab #urgent")
    board.write(session, "new_task", "Book the microscope #lab")
    board.write(session, "complete", "t1")
    refused = board.write(session, "complete", "t9")
    board.follow()
    state = board.mirror.values
    assert state["tasks"]["t1"]["done"] and not state["tasks"]["t2"]["done"]
    assert state["tasks"]["t2"] == {"title": "Book the microscope", "tags": ["lab"], "done": False, "by": "ann",
                                    "done_at": 0.0}
    assert state["tags"] == ["lab", "urgent"]
    error = next(m for m in board.published if m["type"] == "error")
    assert error["msg_id"] == refused and "the id of a task on the board" in error["detail"]
    ops = {m["op"] for m in board.published if m["type"] == "trait_change"}
    assert {"dict", "set_items"} <= ops  # item changes, never the whole container

    clock.now += board.model.archive_after + 1  # the board takes t1 off by itself
    scheduler.run_due()
    archived = board.follow()
    assert [(m["trait"], m["op"]) for m in archived] == [("tasks", "dict"), ("tags", "set_items")]
    assert archived[0]["removed"] == ["t1"] and archived[1]["removed"] == ["urgent"]
    assert set(board.mirror.values["tasks"]) == {"t2"} and board.mirror.values["tags"] == ["lab"]


@pytest.fixture(scope="module")
def board_stack(make_stack: Any) -> Iterator[Stack]:
    env = {"model": {"TRAITSWEB_MODEL": "examples.taskboard:create"}}
    with make_stack(gateways=1, proxy=False, env=env) as stack:
        yield stack


@pytest.mark.stack
def test_the_task_board_over_the_unchanged_gateway(board_stack: Stack) -> None:
    url = board_stack.gateway_urls[0]
    with WebClient(url) as ann, WebClient(url) as bob:
        ann.login("ann")
        bob.login("bob")
        assert ann.send("new_task", "Calibrate the scale #lab").status_code == 202
        assert ann.send("complete", "t99").status_code == 202  # the gateway passes it; the model refuses it
        while not ann.errors:
            ann.poll(timeout=5)
        assert ann.errors[0]["trait"] == "complete" and ann.errors[0]["code"] == "invalid_value"
        while "t1" not in bob.state.get("tasks", {}):
            bob.poll(timeout=5)
        assert bob.state["tasks"]["t1"]["title"] == "Calibrate the scale" and bob.state["tags"] == ["lab"]
        assert bob.send("complete", "t1").status_code == 202
        while not ann.state["tasks"]["t1"]["done"]:
            ann.poll(timeout=5)
        assert ann.send("new_task", "").status_code == 422  # checked against the schema the model published
