"""Headless mode: the window's plots rendered to PNG files, for servers without a display.

Every ``snapshot_interval`` seconds (when the state or the time axis changed)
it writes ``desktop-<UTC time>.png``, then replaces ``latest.png`` and
``latest.json`` (the epoch/seq the image shows) atomically, and deletes the
oldest timestamped files beyond ``snapshot_keep``. Messages are applied on
this thread as they arrive; drawing happens only at the interval.

Like the window, it draws the chat's plots when the snapshot's ``page`` is
``"chat"``, and for any other model its numeric lists as line plots under a
panel of its other values (``genplots``); a later snapshot asking for the
other kind switches.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .config import DesktopSettings
from .link import Link
from .generic import GenericData, view_kind
from .genplots import GenericPlots
from .model import DesktopModel
from .plotdata import ChatPlotData
from .plots import ChatPlots, render_png

__all__ = ["SnapshotWriter", "run"]

log = logging.getLogger(__name__)

SIZE = (1000, 700)


class SnapshotWriter:
    """Renders a :class:`ChatPlots` (or :class:`GenericPlots`) into a folder of PNGs plus ``latest.png``/``latest.json``."""

    def __init__(self, plots: ChatPlots | GenericPlots, folder: Path, *, keep: int = 100,
                 size: tuple[int, int] = SIZE) -> None:
        self.plots = plots
        self.folder = folder
        self.keep = keep
        self.size = size
        folder.mkdir(parents=True, exist_ok=True)

    def write(self) -> Path:
        model = self.plots.data.model
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.folder / f"desktop-{stamp}.png"
        render_png(self.plots.component, path, self.size)
        latest = self.folder / "latest.png"
        tmp = self.folder / f".latest.png.{os.getpid()}.tmp"
        shutil.copyfile(path, tmp)
        os.replace(tmp, latest)
        info = {"file": path.name, "epoch": model.epoch if model else "", "seq": model.seq if model else -1,
                "time": time.time()}
        tmp = self.folder / f".latest.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.folder / "latest.json")
        self._prune()
        return path

    def _prune(self) -> None:
        shots = sorted(self.folder.glob("desktop-*.png"))
        for old in shots[: max(0, len(shots) - self.keep)]:
            old.unlink(missing_ok=True)


class _Generic:
    """A :class:`GenericData` and its plots with a text panel, refreshed together (like ``ChatPlotData.refresh``)."""

    def __init__(self, model: DesktopModel) -> None:
        self.data = GenericData(model=model)
        self.data.refresh()
        self.plots = GenericPlots(self.data, texts=True)

    def refresh(self) -> bool:
        changed = bool(self.data.refresh())
        if changed:
            self.plots.show_texts()
        return changed


def run(link: Link, settings: DesktopSettings, stop: threading.Event) -> None:
    """Apply messages as they come and write a snapshot every interval, until ``stop``."""
    kind: tuple[object, ...] | None = None
    data: ChatPlotData | _Generic | None = None
    writer: SnapshotWriter | None = None
    next_shot = time.monotonic()
    ready_logged = False
    while not stop.is_set():
        link.drain(timeout=max(0.01, min(0.5, next_shot - time.monotonic())))
        if time.monotonic() < next_shot or not link.model.ready:
            continue
        next_shot = time.monotonic() + settings.snapshot_interval
        if view_kind(link.model) != kind:
            kind = view_kind(link.model)
            if kind[0] == "chat":
                data = ChatPlotData(model=link.model, bucket_seconds=settings.bucket_seconds,
                                    buckets=settings.buckets)
                writer = SnapshotWriter(ChatPlots(data), settings.snapshot_dir, keep=settings.snapshot_keep)
            else:
                data = _Generic(link.model)
                writer = SnapshotWriter(data.plots, settings.snapshot_dir, keep=settings.snapshot_keep)
            log.info("drawing the %s view", "chat's" if kind[0] == "chat" else "generated")
            ready_logged = False
        assert data is not None and writer is not None
        if data.refresh() or not ready_logged:
            path = writer.write()
            if not ready_logged:
                ready_logged = True
                log.info("desktop ready: headless, writing %s every %.1f s", settings.snapshot_dir, settings.snapshot_interval)
            log.debug("wrote %s (seq %d)", path.name, link.model.seq)
