"""The model service's settings (``TRAITSWEB_*`` variables), read once in ``main``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from traitsweb.settings import BrokerSettings

__all__ = ["ModelSettings"]


class ModelSettings(BrokerSettings):
    #: ``module:factory`` returning the SharedModel to serve
    model: str = "services.model.chat:create"
    data_dir: Path = Path("data")
    #: seconds without a poll, send or touch before a session is logged out
    idle_timeout: float = Field(60.0, gt=0)
    #: journal entries between two checkpoints of the whole state
    checkpoint_every: int = Field(1000, ge=1)
    #: unacknowledged input frames the broker may hand us at once
    prefetch: int = Field(200, ge=1)
    #: broker users that act for browser sessions (they verify signed tokens): any session they logged in
    gateway_users: frozenset[str] = frozenset({"gateway"})
    #: broker users that act only for the sessions they logged in themselves
    desktop_users: frozenset[str] = frozenset({"desktop"})
