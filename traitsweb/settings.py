"""Settings every service shares: where the broker is and what the channels are called.

Each service subclasses :class:`BrokerSettings` with its own fields and builds
it once in its ``main``; nothing below ``main`` reads the environment.
Variables are prefixed ``TRAITSWEB_`` (``TRAITSWEB_BROKER_URL``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from traitsweb import protocol

__all__ = ["BrokerSettings", "BrokerURL", "parse_broker_url"]


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int
    user: str | None
    password: str | None
    vhost: str = "/"
    #: ``stomp`` (RabbitMQ's STOMP listener) or ``memory`` (an in-process broker named ``host``, for tests)
    scheme: str = "stomp"

    def __repr__(self) -> str:  # never print the password
        return f"BrokerURL({self.scheme}://{self.user or ''}@{self.host}:{self.port}{self.vhost})"


def parse_broker_url(url: str) -> BrokerURL:
    """``stomp://user:password@host:port[/vhost]`` or ``memory://name`` -> :class:`BrokerURL`."""
    parts = urlsplit(url)
    if parts.scheme == "memory" and parts.hostname:
        return BrokerURL(host=parts.hostname, port=0, user=parts.username, password=None, scheme="memory")
    if parts.scheme != "stomp" or not parts.hostname:
        raise ValueError("broker URL must look like stomp://user:password@host:61613 (or memory://name)")
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return BrokerURL(
        host=parts.hostname,
        port=parts.port or 61613,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        vhost=vhost,
    )


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAITSWEB_", extra="ignore")

    broker_url: SecretStr = Field(
        SecretStr("stomp://127.0.0.1:61613"),
        description="stomp://user:password@host:port of RabbitMQ's STOMP listener",
    )
    #: STOMP heart-beat interval in both directions, milliseconds (0 turns them off).
    heartbeat_ms: int = Field(10_000, ge=0)
    input_destination: str = protocol.INPUT
    control_destination: str = protocol.CONTROL
    out_destination: str = protocol.OUT
    #: the largest snapshot body (the model's on the broker, a gateway's /api/state and resets), in bytes:
    #: long lists keep only their newest items (``traitsweb.snapshot``)
    snapshot_max_bytes: int = Field(256 * 1024, ge=16 * 1024)
    log_level: str = "INFO"

    @field_validator("broker_url")
    @classmethod
    def _valid_url(cls, value: SecretStr) -> SecretStr:
        parse_broker_url(value.get_secret_value())
        return value

    @property
    def broker(self) -> BrokerURL:
        return parse_broker_url(self.broker_url.get_secret_value())
