"""What every desktop window of the shared model has, the chat's dashboard and the generated one alike: its link,
the redraw timer that pumps the link on the GUI thread, and the status bar."""

from __future__ import annotations

import logging

from enable.api import Component
from pyface.timer.api import CallbackTimer
from traits.api import Any as AnyTrait
from traits.api import Bool, HasStrictTraits, Instance, Str

from .config import DesktopSettings
from .link import Link

__all__ = ["LiveWindow"]

log = logging.getLogger(__name__)


class LiveWindow(HasStrictTraits):
    """Calls :meth:`pump` every ``settings.redraw_interval`` s from :meth:`start` to :meth:`stop`: data from the
    broker reaches the GUI only through this pump. A window defines :meth:`_refresh` (its views from the model)
    and may add figures to the status bar (:meth:`_figures`)."""

    link = Instance(Link)
    settings = Instance(DesktopSettings)
    component = Instance(Component)
    joined = Bool(False)
    status = Str("starting")

    #: how the status bar introduces the link's last error
    _error_label = ""
    _timer = AnyTrait()
    _ready_logged = Bool(False)

    def start(self) -> None:
        self._timer = CallbackTimer(interval=self.settings.redraw_interval, callback=self.pump)
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def pump(self, timeout: float = 0.0) -> int:
        """Apply what arrived (waiting up to ``timeout`` s for it) and refresh the views."""
        handled = self.link.drain(timeout)
        self._refresh()
        self._show_status()
        model = self.link.model
        if model.ready and not self._ready_logged:
            self._ready_logged = True
            log.info("desktop ready: window showing epoch %s seq %d", model.epoch, model.seq)
        return handled

    def _refresh(self) -> None:
        raise NotImplementedError

    def _figures(self) -> list[str]:
        """What the status bar shows of the model besides its participants and seq."""
        return []

    def _show_status(self) -> None:
        link, model = self.link, self.link.model
        if not link.connected:
            text = "broker: disconnected, reconnecting…"
        elif not model.ready:
            text = "broker: connected, waiting for the model's snapshot…"
        elif not link.synced:
            text = f"broker: connected · catching up with the model (have seq {model.seq})…"
        else:
            who = f"you are {link.name}" if link.joined else "joining…"
            text = " · ".join(["broker: connected", who, f"{len(model.participants)} participants",
                               *self._figures(), f"seq {model.seq}"])
        if link.last_error:
            text += f" · {self._error_label}{link.last_error}"
        self.status = text
