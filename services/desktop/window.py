"""The chat's desktop window (live plots, participants, latest messages, a chat entry, a rating), and ``run``.

``run`` waits for the first snapshot, then opens this window for the chat
(snapshot ``page == "chat"``) or the generated one (``genwindow``) for any other model.

Everything here runs on the GUI thread. A pyface timer calls
:meth:`DesktopWindow.pump` every ``redraw_interval`` seconds: it drains the
link's inbox (filled by stomp.py's receiver thread), so a flood of messages
is applied in one batch and the plots redraw once per tick, never from the
receiver thread.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from enable.api import ComponentEditor
from pyface.api import GUI
from pyface.timer.api import CallbackTimer
from traits.api import Any as AnyTrait
from traits.api import Bool, Button, Enum, Instance, List, Str, Tuple, observe
from traitsui.api import EnumEditor, HGroup, Item, ListStrEditor, TabularEditor, TextEditor, UItem, VGroup, View
from traitsui.tabular_adapter import TabularAdapter

from .config import DesktopSettings
from .generic import view_kind
from .link import Link
from .pump import LiveWindow
from .plotdata import ChatPlotData
from .plots import ChatPlots

__all__ = ["DesktopWindow", "run", "view_kind"]

log = logging.getLogger(__name__)

_RATINGS = {1: "1 bad", 2: "2", 3: "3", 4: "4", 5: "5 great"}


class _MessageAdapter(TabularAdapter):
    columns = [("Time", 0), ("From", 1), ("Message", 2)]
    width = 80.0

    def get_width(self, object: Any, trait: str, column: int) -> float:
        return (70.0, 80.0, 400.0)[column]


class DesktopWindow(LiveWindow):
    data = Instance(ChatPlotData)
    plots = Instance(ChatPlots)

    participants = List(Str)
    #: (time, user, text), newest first
    latest = List(Tuple(Str, Str, Str))
    message = Str()
    send = Button("Send")
    rating = Enum(3, list(_RATINGS))

    _shown_seq = Tuple(Str, AnyTrait, AnyTrait)
    _syncing = Bool(False)

    def __init__(self, link: Link, settings: DesktopSettings, **traits: Any) -> None:
        data = ChatPlotData(model=link.model, bucket_seconds=settings.bucket_seconds, buckets=settings.buckets)
        plots = ChatPlots(data)
        super().__init__(link=link, settings=settings, data=data, plots=plots, component=plots.component, **traits)

    # -- the GUI thread's pump --------------------------------------------------------
    def _refresh(self) -> None:
        self.data.refresh()
        model = self.link.model
        shown = (model.epoch, model.seq, model.snapshots)
        if shown != self._shown_seq:
            self._shown_seq = shown
            self._show_lists()
        self.joined = self.link.joined

    def _show_lists(self) -> None:
        model = self.link.model
        ratings = model.connection_ratings
        me = self.link.session
        self.participants = [
            f"{name}{' (you)' if session == me else ''}  {'★' * ratings.get(session, 0)}"
            for session, name in sorted(model.participants.items(), key=lambda item: (item[1], item[0]))
        ]
        recent = model.messages[-self.settings.latest_messages :]
        self.latest = [
            (time.strftime("%H:%M:%S", time.localtime(m.get("time", 0))), str(m.get("user", "")), str(m.get("text", "")))
            for m in reversed(recent)
        ]
        if me in ratings and ratings[me] != self.rating:
            self._syncing = True
            try:
                self.rating = ratings[me]
            finally:
                self._syncing = False

    def _figures(self) -> list[str]:
        return [f"average rating {self.link.model.average_rating:.2f}"]

    # -- the desktop user's actions ------------------------------------------------------
    @observe("send")
    def _post_message(self, event: Any) -> None:
        text = self.message.strip()
        if text and self.link.post(text):
            self.message = ""
            self.link.last_error = ""

    @observe("rating")
    def _rate_connection(self, event: Any) -> None:
        if not self._syncing and self.link.rate(self.rating):
            self.link.last_error = ""

    traits_view = View(
        VGroup(
            HGroup(
                UItem("component", editor=ComponentEditor(), width=780, height=560),
                VGroup(
                    Item("participants", editor=ListStrEditor(editable=False, horizontal_lines=False),
                         show_label=False, height=-140),
                    Item("latest", editor=TabularEditor(adapter=_MessageAdapter(), editable=False),
                         show_label=False, height=440),
                    label="Participants and latest messages",
                    show_border=True,
                ),
            ),
            HGroup(
                Item("message", editor=TextEditor(auto_set=True), springy=True,
                     enabled_when="joined", label="Message"),
                UItem("send", enabled_when="joined and message.strip()"),
                Item("rating", editor=EnumEditor(values=_RATINGS, cols=5), style="custom",
                     enabled_when="joined", label="Rate your connection"),
            ),
        ),
        title="traitsweb desktop",
        resizable=True,
        width=1240,
        height=780,
        statusbar="status",
    )


def _wait_for_snapshot(link: Link, stop: threading.Event) -> bool:
    """Drain the link on this thread until its first snapshot is in (the window is built from it)."""
    waited = time.monotonic()
    while not link.model.ready:
        if stop.is_set():
            return False
        link.drain(timeout=0.5)
        if time.monotonic() - waited > 10:
            waited = time.monotonic()
            log.info("still waiting for the model's snapshot (connected: %s)", link.connected)
    return True


def _close(gui: GUI, ui: Any) -> None:
    ui.dispose()
    gui.stop_event_loop()


def run(link: Link, settings: DesktopSettings) -> None:
    """Show the window until it is closed or SIGTERM/SIGINT arrives, then log out.

    The window is built once the first snapshot is in: the chat's dashboard if the
    snapshot's ``page`` is ``"chat"``, else a view generated from its schema. If a
    later snapshot asks for another window (another model, or other fields), the
    window is closed and the right one opened.
    """
    gui = GUI()
    stop = threading.Event()
    current: dict[str, Any] = {}

    def on_signal(*_: Any) -> None:
        stop.set()
        if "ui" in current:
            gui.invoke_later(_close, gui, current["ui"])

    # Python signal handlers run between timer callbacks, on this (the GUI) thread
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        while _wait_for_snapshot(link, stop):
            kind = view_kind(link.model)
            log.info("opening %s", "the chat's dashboard" if kind[0] == "chat" else
                     "the generated view of " + ", ".join(f"{name} ({what})" for name, what in kind[1]))
            if kind[0] == "chat":
                window: Any = DesktopWindow(link, settings)
            else:
                from .genwindow import GenericWindow

                window = GenericWindow(link, settings)
            current["ui"] = ui = window.edit_traits()
            replaced = threading.Event()

            def watch(kind: tuple[Any, ...] = kind, ui: Any = ui, replaced: threading.Event = replaced) -> None:
                if link.model.ready and view_kind(link.model) != kind and not replaced.is_set():
                    log.info("the model's snapshot asks for another window: opening it")
                    replaced.set()
                    _close(gui, ui)

            watcher = CallbackTimer(interval=1.0, callback=watch)
            window.start()
            watcher.start()
            try:
                gui.start_event_loop()
            finally:
                watcher.stop()
                window.stop()
                current.pop("ui", None)
            if not replaced.is_set():
                break  # closed by the user or a signal
    finally:
        link.logout()
