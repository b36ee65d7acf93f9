"""Settings every service shares: where the broker is and what the channels are called.

Each service subclasses :class:`BrokerSettings` with its own fields and builds
it once in its ``main``; nothing below ``main`` reads the environment.
Variables are prefixed ``TRAITSWEB_`` (``TRAITSWEB_BROKER_URL``, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from traitsweb import protocol

__all__ = ["BrokerSettings", "BrokerURL", "parse_broker_url"]


@dataclass(frozen=True)
class BrokerURL:
    """Where the broker is: one STOMP address, or several nodes of one RabbitMQ cluster."""

    host: str
    port: int
    user: str | None
    password: str | None
    vhost: str = "/"
    #: ``stomp`` (RabbitMQ's STOMP listener) or ``memory`` (an in-process broker named ``host``, for tests)
    scheme: str = "stomp"
    #: every node's ``(host, port)``, ``(host, port)`` first; a client connects to any live one
    nodes: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.nodes:
            object.__setattr__(self, "nodes", ((self.host, self.port),))

    def __repr__(self) -> str:  # never print the password
        where = ",".join(f"{host}:{port}" for host, port in self.nodes)
        return f"BrokerURL({self.scheme}://{self.user or ''}@{where}{self.vhost})"


_USAGE = "broker URL must look like stomp://user:password@host:61613[,host2:61613,...] (or memory://name)"
_NODE = re.compile(r"^(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?$")


def parse_broker_url(url: str) -> BrokerURL:
    """``stomp://user:password@host:port[,host:port...][/vhost]`` or ``memory://name`` -> :class:`BrokerURL`.

    Several comma-separated addresses name the nodes of one cluster (one login for all of them).
    """
    parts = urlsplit(url)
    if parts.scheme == "memory" and parts.hostname:
        return BrokerURL(host=parts.hostname, port=0, user=parts.username, password=None, scheme="memory")
    if parts.scheme != "stomp" or parts.query or parts.fragment:
        raise ValueError(_USAGE)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    nodes = tuple(_node(address) for address in hosts.split(","))
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return BrokerURL(
        host=nodes[0][0],
        port=nodes[0][1],
        user=unquote(user) if user else None,
        password=unquote(password) if password else None,
        vhost=vhost,
        nodes=nodes,
    )


def _node(address: str) -> tuple[str, int]:
    match = _NODE.match(address)
    if match is None:
        raise ValueError(f"{_USAGE}: bad address {address!r}" if address else _USAGE)
    port = int(match["port"] or 61613)
    if not 0 < port < 65536:
        raise ValueError(f"{_USAGE}: bad port in {address!r}")
    return match["ip6"] or match["host"], port


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAITSWEB_", extra="ignore")

    broker_url: SecretStr = Field(
        SecretStr("stomp://127.0.0.1:61613"),
        description="stomp://user:password@host:port[,host:port...] of RabbitMQ's STOMP listener(s)",
    )
    #: STOMP heart-beat interval in both directions, milliseconds (0 turns them off).
    heartbeat_ms: int = Field(10_000, ge=0)
    input_destination: str = protocol.INPUT
    control_destination: str = protocol.CONTROL
    out_destination: str = protocol.OUT
    #: where messages private to a desktop user's sessions go, under ``.<user>.<session>``
    private_destination: str = protocol.PRIVATE
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
