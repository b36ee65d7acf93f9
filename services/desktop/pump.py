"""The GUI thread's redraw timer, shared by the chat's dashboard and the generated window."""

from __future__ import annotations

from typing import Any

from pyface.timer.api import CallbackTimer

__all__ = ["Pumped"]


class Pumped:
    """Calls the window's ``pump()`` every ``settings.redraw_interval`` s from :meth:`start` to :meth:`stop`
    (the window declares ``_timer``; data from the broker reaches the GUI only through this pump)."""

    _timer: Any
    settings: Any

    def pump(self, timeout: float = 0.0) -> int:
        raise NotImplementedError

    def start(self) -> None:
        self._timer = CallbackTimer(interval=self.settings.redraw_interval, callback=self.pump)
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
