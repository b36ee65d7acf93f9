"""The generated desktop window and PNGs for models other than the chat, against real stacks.

The window runs as in production (its pyface timer drains the link on the GUI thread
under the real Qt event loop, ``QT_QPA_PLATFORM=offscreen``) and UITester drives its
controls as a user would; every value reaches the desktop only through STOMP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pyface.api import GUI
from pyface.qt import QtGui
from pyface.util.event_loop_helper import EventLoopHelper
from traitsui.testing.api import (
    DisplayedText,
    Index,
    IsVisible,
    KeyClick,
    KeySequence,
    MouseClick,
    Textbox,
    UITester,
)

from runner.stack import Stack
from services.desktop.generic import view_kind
from services.desktop.genwindow import GenericWindow
from tests.stompclient import Peer

from .live import desktop_link, pump_until, wait_for_png

pytestmark = [pytest.mark.gui, pytest.mark.stack]

LINE_RGB = (0x4C, 0x72, 0xB0)


@pytest.fixture(scope="module")
def instrument_stack(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    """RabbitMQ, the instrument model (readings at 20 Hz) and the headless desktop service."""
    env = {"model": {"TRAITSWEB_MODEL": "examples.instrument:create"},
           "desktop": {"TRAITSWEB_SNAPSHOT_INTERVAL": "0.5"}}
    with make_stack(gateways=0, proxy=False, desktop=True, env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def counter_stack(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False, env={"model": {"TRAITSWEB_MODEL": "tests.models.counter:create"}}) as stack:
        yield stack


@pytest.fixture
def loop() -> Iterator[EventLoopHelper]:
    yield EventLoopHelper(qt_app=QtGui.QApplication.instance(), gui=GUI())


def _clear_and_type(textbox: Any, text: str) -> None:
    for _ in range(len(textbox.inspect(DisplayedText()))):
        textbox.perform(KeyClick("Backspace"))
    textbox.perform(KeySequence(text))
    textbox.perform(KeyClick("Enter"))


def _window(link: Any) -> GenericWindow:
    pump_until(link.drain, lambda: link.model.ready, what="the first snapshot")
    assert view_kind(link.model)[0] == "generic"  # the snapshot's page is not the chat's
    return GenericWindow(link, link.settings)


def test_instrument_window_plots_live_readings_and_steers_the_setpoint(
        instrument_stack: Stack, loop: EventLoopHelper) -> None:
    with desktop_link(instrument_stack, participant=True, name="desk-instrument") as link:
        window = _window(link)
        assert set(window.plots.plots) == {"readings"}
        with UITester().create_ui(window) as ui:
            window.start()
            try:
                loop.event_loop_until_condition(lambda: window.joined, timeout=30)
                assert window.status.startswith("broker: connected · you are desk-instrument")
                renderer = window.plots.plots["readings"].plots["readings"][0]

                # the model samples by itself at 20 Hz: the plot's data grow and scroll, live
                first = float(renderer.index.get_data()[-1])
                loop.event_loop_until_condition(lambda: renderer.index.get_data()[-1] >= first + 20, timeout=30)
                # between two timer ticks the plot shows exactly the desktop's copy of the model's readings
                assert renderer.value.get_data().tolist() == link.model.values["readings"]
                assert window.state.samples == str(link.model.values["samples"])
                tester = UITester()
                samples = tester.find_by_id(ui, "state-samples")
                assert samples.inspect(DisplayedText()) == window.state.samples
                loop.event_loop_until_condition(lambda: window.state.statistics != [], timeout=30)
                assert [key for key, _ in window.state.statistics] == ["max", "mean", "min", "stdev"]

                # the desktop user types a setpoint into the slider's text field: the shared state follows
                setpoint = tester.find_by_id(ui, "control-setpoint").locate(Textbox())
                _clear_and_type(setpoint, "73")
                loop.event_loop_until_condition(lambda: link.model.values["setpoint"] == 73.0, timeout=30)
                assert window.state.setpoint == "73"
                # and the readings move towards it (the model, not the desktop, computes them)
                loop.event_loop_until_condition(lambda: renderer.value.get_data()[-1] > 60, timeout=30)

                # the mode drop-down (its third entry is "noise")
                tester.find_by_id(ui, "control-mode").locate(Index(2)).perform(MouseClick())
                loop.event_loop_until_condition(lambda: link.model.values["mode"] == "noise", timeout=30)
                assert window.state.mode == "noise"
                # the running check box stops the sampling
                tester.find_by_id(ui, "control-running").perform(MouseClick())
                loop.event_loop_until_condition(lambda: link.model.values["running"] is False, timeout=30)
                assert window.state.running == "no"
            finally:
                window.stop()
                link.write("running", True)
                link.write("mode", "steady")


def test_counter_window_writes_and_shows_a_refused_value(counter_stack: Stack, loop: EventLoopHelper) -> None:
    with Peer(counter_stack.broker_url("gateway")) as peer, \
            desktop_link(counter_stack, participant=True, name="desk-counter") as link:
        window = _window(link)
        with UITester().create_ui(window) as ui:
            window.start()
            try:
                loop.event_loop_until_condition(lambda: window.joined, timeout=30)
                tester = UITester()
                before = peer.snapshot()["state"]["total"]
                increment = tester.find_by_id(ui, "control-increment").locate(Textbox())
                _clear_and_type(increment, "7")
                peer.wait_for(lambda m: m.get("trait") == "total" and m["value"] == before + 7)
                loop.event_loop_until_condition(lambda: window.state.total == str(before + 7), timeout=30)
                history = window.plots.plots["history"].plots["history"][0]
                loop.event_loop_until_condition(lambda: history.value.get_data().tolist()[-1:] == [before + 7],
                                                timeout=30)

                # a value outside the schema's range is refused before it is sent, and shown
                seq = peer.snapshot()["seq"]
                _clear_and_type(increment, "11")
                # beside the controls at once, in the status bar from the next timer tick
                loop.event_loop_until_condition(lambda: "at most 10" in window.controls.problem
                                                and "refused: increment" in window.status, timeout=30)
                problem = tester.find_by_id(ui, "problem")
                assert problem.inspect(IsVisible()) and "at most 10" in problem.inspect(DisplayedText())
                assert peer.snapshot()["state"]["total"] == before + 7
                assert not [m for m in peer.messages if m["seq"] > seq and m.get("trait") == "total"]

                # the colour drop-down (a write-only enumeration): the set of colours gains it
                tester.find_by_id(ui, "control-colour").locate(Index(1)).perform(MouseClick())
                peer.wait_for(lambda m: m.get("trait") == "colours" and "green" in m.get("added", []))
                loop.event_loop_until_condition(lambda: any(v == "green" for _, v in window.state.colours),
                                                timeout=30)
                assert window.controls.problem == ""  # a good write clears the refusal
            finally:
                window.stop()


def test_headless_service_pngs_plot_the_instrument(instrument_stack: Stack) -> None:
    folder = instrument_stack.volumes / "desktop-snapshots"
    with Peer(instrument_stack.broker_url("gateway")) as peer:
        truth = peer.snapshot()
        png = wait_for_png(folder, truth["seq"])
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1000, 700)
        rgb = np.asarray(image.convert("RGB")).astype(int)
    height, width = rgb.shape[:2]
    line = np.abs(rgb - np.array(LINE_RGB)).sum(axis=2)[height // 3:] < 60
    rows, columns = np.nonzero(line.any(axis=1))[0], np.nonzero(line.any(axis=0))[0]
    # the readings' line under the text panel: across the plot, and up and down through many rows
    # with the noise (the chat's plots, empty here, would only draw a few flat base lines)
    assert len(columns) > 0.8 * width and len(rows) > 100, (len(rows), len(columns))
    assert (rgb[: height // 4].sum(axis=2) < 200).sum() > 200  # the panel's text


def test_taskboard_window_adds_by_text_and_shows_the_models_refusal(
        make_stack: Callable[..., AbstractContextManager[Stack]], loop: EventLoopHelper) -> None:
    env = {"model": {"TRAITSWEB_MODEL": "examples.taskboard:create"}}
    with make_stack(gateways=0, proxy=False, env=env) as stack, \
            desktop_link(stack, participant=True, name="desk-tasks") as link:
        window = _window(link)
        assert window.plots.plots == {}  # no numeric list: no plot, only state and controls
        with UITester().create_ui(window) as ui:
            window.start()
            try:
                loop.event_loop_until_condition(lambda: window.joined, timeout=30)
                tester = UITester()
                new_task = tester.find_by_id(ui, "control-new_task")
                new_task.perform(KeySequence("water the plants #home"))
                new_task.perform(KeyClick("Enter"))
                loop.event_loop_until_condition(lambda: "t1" in link.model.values["tasks"], timeout=30)
                assert link.model.values["tasks"]["t1"]["title"] == "water the plants"
                loop.event_loop_until_condition(lambda: [row[0] for row in window.state.tasks] == ["t1"], timeout=30)
                # a column per field of the tasks: by, done, done_at, tags, title
                assert window.state.tasks[0][1:] == ("desk-tasks", "no", "0", "home", "water the plants")
                assert window.state.tags == [("0", "home")]
                assert window.controls.new_task == "" and new_task.inspect(DisplayedText()) == ""

                # an id that is not on the board passes the schema (a short string) and is refused by the model
                complete = tester.find_by_id(ui, "control-complete")
                complete.perform(KeySequence("t999"))
                complete.perform(KeyClick("Enter"))
                loop.event_loop_until_condition(lambda: "invalid_value" in window.controls.problem
                                                and "refused: invalid_value" in window.status, timeout=30)
                assert "the id of a task on the board" in window.controls.problem
                assert window.state.tasks[0][2] == "no"
                assert link.model.values["tasks"]["t1"]["done"] is False
            finally:
                window.stop()


def test_the_desktop_service_opens_the_generated_window_for_the_instrument(
        make_stack: Callable[..., AbstractContextManager[Stack]]) -> None:
    """``python -m services.desktop`` itself (offscreen): it waits for the snapshot, chooses, joins, logs out."""
    env = {"model": {"TRAITSWEB_MODEL": "examples.instrument:create"},
           "desktop": {"ETS_TOOLKIT": "qt.celiagg", "QT_QPA_PLATFORM": "offscreen",
                       "TRAITSWEB_DESKTOP_NAME": "desk-service"}}
    with make_stack(gateways=0, proxy=False, desktop=True, desktop_window=True, env=env) as stack, \
            Peer(stack.broker_url("gateway")) as peer:
        log = stack.log("desktop")
        assert "opening the generated view of " in log and "readings (numbers)" in log
        assert "desktop ready: window showing" in log and "chat's dashboard" not in log
        state = peer.snapshot()["state"]
        sessions = [s for s, name in state["participants"].items() if name == "desk-service"]
        if not sessions:  # the window logs in as it connects; its login may still be on its way
            joined = peer.wait_for(lambda m: m.get("trait") == "participants"
                                   and "desk-service" in m.get("set", {}).values())
            sessions = [s for s, name in joined["set"].items() if name == "desk-service"]
        stack.stop("desktop")  # SIGTERM: the window closes and the desktop user logs out
        peer.wait_for(lambda m: m.get("trait") == "participants" and sessions[0] in m.get("removed", []))
