"""Helpers for the live desktop tests: an in-process desktop link on the real broker, waits, pixels."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from runner.stack import Stack
from services.desktop.config import DesktopSettings
from services.desktop.link import Link
from traitsweb.broker import StompClient

BAR_RGB = (0x4C, 0x72, 0xB0)  # plots.COLORS["ratings"]


@contextlib.contextmanager
def desktop_link(stack: Stack, *, participant: bool = False, name: str = "desk-test") -> Iterator[Link]:
    """The desktop's own Link and StompClient, run in this process as the desktop user."""
    settings = DesktopSettings(broker_url=stack.broker_url("desktop"), desktop_name=name, heartbeat_ms=5000)
    link = Link(settings, participant=participant)
    with StompClient(settings.broker, name="desktop-test", heartbeat_ms=settings.heartbeat_ms,
                     on_state=link.on_broker_state) as client:
        link.attach(client)
        yield link
        if participant:
            link.logout()


def pump_until(pump: Callable[[float], Any], predicate: Callable[[], bool], timeout: float = 30.0,
               what: str = "condition") -> None:
    """Drain the link's inbox (blocking on it, not sleeping) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        pump(0.2)


def histogram(ratings: dict[str, int]) -> list[int]:
    counts = [0] * 5
    for value in ratings.values():
        counts[value - 1] += 1
    return counts


def bar_heights(png: Path) -> list[int]:
    """Heights in pixels of the five bars of the ratings plot (top left of the image)."""
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    height, width = rgb.shape[:2]
    region = rgb[: int(height * 0.6), : int(width * 0.45)]
    bar = np.abs(region - np.array(BAR_RGB)).sum(axis=2) < 40
    columns = bar.sum(axis=0)
    runs, start = [], None
    for x, count in enumerate(list(columns) + [0]):
        if count and start is None:
            start = x
        elif not count and start is not None:
            runs.append(int(columns[start:x].max()))
            start = None
    assert len(runs) == 5, f"expected 5 bars (zero ones as a base line), found {runs} in {png}"
    return runs


def assert_bars_show(heights: list[int], counts: list[int]) -> None:
    """Bar heights proportional to the counts (a zero count is only a base line)."""
    tallest = max(heights)
    assert max(counts) > 0 and tallest > 20
    for h, c in zip(heights, counts):
        expected = c / max(counts)
        assert abs(h / tallest - expected) < 0.05 or (c == 0 and h <= 3), (heights, counts)


def wait_for_png(folder: Path, seq: int, timeout: float = 30.0) -> Path:
    """latest.png once latest.json says it shows ``seq`` or later (the writer replaces both atomically)."""
    deadline = time.monotonic() + timeout
    while True:
        info_path = folder / "latest.json"
        if info_path.exists():
            info = json.loads(info_path.read_text())
            if info["seq"] >= seq:
                return folder / info["file"]
        assert time.monotonic() < deadline, f"no snapshot PNG at seq >= {seq} within {timeout} s"
        time.sleep(0.1)  # a file has no event to wait on: poll, bounded
