"""The gateway's settings (``TRAITSWEB_*`` variables), read once in ``main``."""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr, field_validator

from traitsweb import protocol
from traitsweb.settings import BrokerSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(BrokerSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    #: signs session tokens: every replica must have the same one
    session_secret: SecretStr = Field(min_length=16)
    #: this replica's name in logs, metrics and touch reports (the host name: a container's id under compose)
    replica: str = Field(default_factory=socket.gethostname)
    #: Origins allowed besides the page's own (comma-separated)
    allowed_origins: str = ""
    #: out messages kept for replaying to polls that fell behind
    buffer_size: int = Field(10_000, ge=100)
    #: how far back the replica reads the model's journal stream when it starts, seconds, and the most
    #: messages it keeps from it (0, the default: no replay, for a model with a file journal; clients behind
    #: the ring buffer then get a reset). ``MODELS=2``, whose models journal on the broker, sets 100,000.
    replay_seconds: float = Field(600.0, ge=0)
    history_size: int = Field(0, ge=0)
    #: after a start, how long a client the ring buffer cannot serve waits for the journal before a reset
    replay_wait: float = Field(10.0, ge=0)
    journal_destination: str = protocol.JOURNAL
    #: longest a long-poll is held, seconds
    poll_timeout: float = Field(25.0, gt=0, le=120)
    #: how often the sessions served are reported to the model, seconds
    touch_interval: float = Field(5.0, gt=0)
    #: session tokens expire after this many seconds
    token_ttl: float = Field(7 * 24 * 3600, gt=0)
    #: request bodies above this many bytes get 413
    max_body: int = Field(16 * 1024, ge=1024)
    #: sends per second per session (token bucket) and the burst allowed
    send_rate: float = Field(20.0, gt=0)
    send_burst: int = Field(40, ge=1)
    #: logins per second per client address, and the burst allowed
    login_rate: float = Field(5.0, gt=0)
    login_burst: int = Field(20, ge=1)
    #: how long a send waits for the broker's receipt, seconds
    send_timeout: float = Field(5.0, gt=0)
    #: polls that answer at once (the client is behind), per second per session, and the burst allowed
    poll_rate: float = Field(20.0, gt=0)
    poll_burst: int = Field(40, ge=1)
    #: ``GET /api/state`` per second per session, and the burst allowed
    state_rate: float = Field(10.0, gt=0)
    state_burst: int = Field(20, ge=1)
    #: shared replies the hub keeps at the current position, at most this many and this many bytes
    reply_cache_count: int = Field(64, ge=1)
    reply_cache_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024)
    #: live sessions this replica logged in per client address (IPv6: per /64), and in the whole model
    sessions_per_address: int = Field(100, ge=1)
    max_sessions: int = Field(20_000, ge=1)
    #: a connection whose unsent data is over this many bytes for ``write_stall`` seconds is dropped
    write_buffer_max: int = Field(1024 * 1024, ge=64 * 1024)
    write_stall: float = Field(10.0, gt=0)
    #: the largest WebSocket frame a client may send (the server reads none), bytes
    ws_max_size: int = Field(4096, ge=1024)

    @field_validator("allowed_origins")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(o.strip().rstrip("/") for o in value.split(",") if o.strip())

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(o for o in self.allowed_origins.split(",") if o)
