"""The model service's settings (``TRAITSWEB_*`` variables), read once in ``main``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from traitsweb import protocol
from traitsweb.settings import BrokerSettings

__all__ = ["ModelSettings"]


class ModelSettings(BrokerSettings):
    #: ``module:factory`` returning the SharedModel to serve
    model: str = "services.model.chat:create"
    data_dir: Path = Path("data")
    #: seconds without a poll, send or touch before a session is logged out
    idle_timeout: float = Field(60.0, gt=0)
    #: where the journal and checkpoints live: an SQLite file in ``data_dir`` (one model process; a lost file
    #: starts a new epoch), or the broker's streams (any model process on any host rebuilds the same state,
    #: epoch and seq; a standby can take over: ``MODELS=2`` chooses it)
    journal: Literal["stream", "file"] = "file"
    #: the quorum queue whose single active consumer is the model that applies inputs (stream journal only)
    lease_destination: str = "/amq/queue/traitsweb.lease"
    #: journal entries between two checkpoints of the whole state (and at least as many journal bytes as
    #: the last checkpoint had: ModelService._checkpoint_due)
    checkpoint_every: int = Field(1000, ge=1)
    #: journal bytes between two checkpoints: well under the journal stream's retention
    #: (deploy/rabbitmq/definitions.sh), so what follows the latest checkpoint is never dropped
    checkpoint_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    #: unacknowledged input frames the broker may hand us at once
    prefetch: int = Field(200, ge=1)
    #: broker users that act for browser sessions (they verify signed tokens): any session they logged in
    gateway_users: frozenset[str] = frozenset({"gateway"})
    #: broker users that act only for the sessions they logged in themselves
    desktop_users: frozenset[str] = frozenset({"desktop"})
    #: live sessions one desktop user may have logged in (a leaked desktop password cannot flood the model)
    desktop_sessions_max: int = Field(32, ge=1)
    #: snapshot requests per second per sending user, and the burst allowed: every replica of the
    #: gateway user asks once per reconnect (and after a gap), a desktop likewise for itself alone
    gateway_snapshot_rate: float = Field(20.0, gt=0)
    gateway_snapshot_burst: int = Field(200, ge=1)
    desktop_snapshot_rate: float = Field(1.0, gt=0)
    desktop_snapshot_burst: int = Field(10, ge=1)

    @field_validator("gateway_users", "desktop_users")
    @classmethod
    def _user_names(cls, users: frozenset[str]) -> frozenset[str]:
        for user in users:  # a desktop user's name is a word of its private routing key
            if not protocol.USER_NAME_RE.fullmatch(user):
                raise ValueError(f"user {user[:64]!r}: only A-Z a-z 0-9 _ - (1-64 characters)")
        return users
