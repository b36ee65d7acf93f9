"""``RemoteModel.edit_traits()`` under QT_QPA_PLATFORM=offscreen: the generated Traits UI view shows the
shared values, follows remote changes on the GUI thread and writes what is typed into it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pyface.api import GUI
from pyface.qt import QtGui
from pyface.util.event_loop_helper import EventLoopHelper
from traitsui.testing.api import DisplayedText, Index, MouseClick, SelectedText, UITester

from runner.stack import Stack
from traitsweb.client import RemoteModel

pytestmark = [pytest.mark.gui, pytest.mark.stack]


@pytest.fixture
def loop() -> Iterator[EventLoopHelper]:
    gui = GUI()
    yield EventLoopHelper(qt_app=QtGui.QApplication.instance(), gui=gui)


def test_the_window_shows_the_shared_model_and_follows_it(lab_stack: Stack, loop: EventLoopHelper) -> None:
    lab_stack.wait_ready(90)
    with RemoteModel.connect(lab_stack.proxy_url, "window") as remote, \
            RemoteModel.connect(lab_stack.proxy_url, "writer") as writer:
        writer.set("code", "AAA", wait=True)
        remote.sync()
        on_gui_thread: list[bool] = []
        remote.observe(lambda event: on_gui_thread.append(threading.current_thread() is threading.main_thread()),
                       "code, log")
        tester = UITester()
        with tester.create_ui(remote) as ui:
            code = tester.find_by_name(ui, "code")
            assert code.inspect(DisplayedText()) == "AAA"
            # the model's state is shown read-only, what a client may write as a control
            kinds = [type(ui.get_editors(name)[0]).__name__ for name in ("log", "participants", "code", "mode")]
            assert kinds[:2] == ["ReadonlyEditor", "ReadonlyEditor"] and "ReadonlyEditor" not in kinds[2:]
            assert "writer" in ui.get_editors("participants")[0].control.text()

            # another client's writes show in the window, set on the GUI thread
            writer.set("code", "QQQ", wait=True)
            writer.set("bump", 41, wait=True)
            loop.event_loop_until_condition(lambda: code.inspect(DisplayedText()) == "QQQ", timeout=30)
            loop.event_loop_until_condition(lambda: remote.log[-1:] == [41], timeout=30)
            assert on_gui_thread and all(on_gui_thread)

            # typed into the window: written to the shared model, seen by the other client
            mode = tester.find_by_name(ui, "mode")
            target = "busy" if remote.mode == "idle" else "idle"
            mode.locate(Index(["idle", "busy"].index(target))).perform(MouseClick())
            writer.wait_for(lambda r: r.mode == target, timeout=30)
            loop.event_loop_until_condition(lambda: remote.mode == target, timeout=30)
            assert mode.inspect(SelectedText()) == target
