"""The desktop service's settings (``TRAITSWEB_*`` variables), read once in ``main``."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import Field

from traitsweb.settings import BrokerSettings

__all__ = ["DesktopSettings"]


class DesktopSettings(BrokerSettings):
    #: the name the desktop user posts under (``TRAITSWEB_DESKTOP_NAME``)
    desktop_name: str = Field("desktop", min_length=1, max_length=64)
    #: the desktop's own session id (32 hex digits); a fresh one per start by default
    desktop_session: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[0-9a-f]{32}$")
    #: headless mode: where the PNGs go, and seconds between two of them
    snapshot_dir: Path = Path("snapshots")
    snapshot_interval: float = Field(5.0, gt=0)
    #: timestamped PNGs kept beside latest.png (the oldest are deleted)
    snapshot_keep: int = Field(100, ge=0)
    #: the time plot: seconds per bar of "messages per interval", and how many intervals it shows
    bucket_seconds: float = Field(10.0, gt=0)
    buckets: int = Field(30, ge=2, le=10_000)
    #: the latest chat messages the window lists
    latest_messages: int = Field(50, ge=1)
    #: seconds between two touches of the desktop's session (the model logs out idle sessions)
    touch_interval: float = Field(15.0, gt=0)
    #: seconds between two redraws of the window (changes are batched in between)
    redraw_interval: float = Field(0.1, gt=0)
