"""The desktop window under QT_QPA_PLATFORM=offscreen against the local stack.

The window runs as in production: its pyface timer drains the link's inbox on
the GUI thread while the real Qt event loop runs (pyface's EventLoopHelper),
and UITester drives its widgets as a user would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyface.api import GUI
from pyface.qt import QtGui
from pyface.util.event_loop_helper import EventLoopHelper
from traitsui.testing.api import Index, KeySequence, MouseClick, UITester

from runner.stack import Stack
from services.desktop.plots import render_png
from services.desktop.window import DesktopWindow
from tests.stompclient import Peer

from .live import assert_bars_show, bar_heights, desktop_link, histogram

pytestmark = [pytest.mark.gui, pytest.mark.stack]


@pytest.fixture
def loop() -> Iterator[EventLoopHelper]:
    gui = GUI()
    yield EventLoopHelper(qt_app=QtGui.QApplication.instance(), gui=gui)


def test_window_opens_follows_the_chat_and_writes(desktop_stack: Stack, loop: EventLoopHelper,
                                                  tmp_path: Path) -> None:
    with Peer(desktop_stack.broker_url("gateway")) as peer, \
            desktop_link(desktop_stack, participant=True, name="desk-ui") as link:
        window = DesktopWindow(link, link.settings)
        with UITester().create_ui(window) as ui:
            window.start()
            try:
                loop.event_loop_until_condition(lambda: window.joined, timeout=30)
                assert window.status.startswith("broker: connected · you are desk-ui")
                assert any(line.startswith("desk-ui (you)") for line in window.participants)

                # a browser user joins, rates and chats: the window follows
                web = peer.login("web-user")
                peer.wait_for(lambda m: m.get("trait") == "participants" and web in m.get("set", {}))
                peer.write(web, "rating_selector", 5)
                peer.write(web, "entry_field", "hello desktop")
                peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"][0]["text"] == "hello desktop")
                truth = peer.snapshot()
                loop.event_loop_until_condition(lambda: link.model.seq >= truth["seq"], timeout=30)
                loop.event_loop_with_timeout(repeat=3)  # one more timer tick refreshes the views
                counts = histogram(truth["state"]["connection_ratings"])
                bars = window.plots.ratings.plots["ratings"][0]
                assert bars.value.get_data().tolist() == counts
                assert "web-user  ★★★★★" in window.participants
                assert window.latest[0][1:] == ("web-user", "hello desktop")

                # the desktop user types a message and sends it
                tester = UITester()
                tester.find_by_name(ui, "message").perform(KeySequence("typed in the window"))
                tester.find_by_name(ui, "send").perform(MouseClick())
                peer.wait_for(lambda m: m.get("trait") == "messages"
                              and m["added"][0]["text"] == "typed in the window"
                              and m["added"][0]["user"] == "desk-ui")
                assert window.message == ""
                # and rates the connection with the radio buttons (the fourth is 4)
                tester.find_by_name(ui, "rating").locate(Index(3)).perform(MouseClick())
                peer.wait_for(lambda m: m.get("trait") == "connection_ratings"
                              and m["set"].get(link.session) == 4)
                loop.event_loop_until_condition(
                    lambda: window.data.rating_counts.tolist() == histogram(link.model.connection_ratings)
                    and link.model.connection_ratings.get(link.session) == 4, timeout=30)

                # what the window draws: the same bars as the headless PNGs
                render_png(window.component, tmp_path / "window.png")
                assert_bars_show(bar_heights(tmp_path / "window.png"), histogram(link.model.connection_ratings))
            finally:
                window.stop()
