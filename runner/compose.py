"""Read ``compose.yaml`` the way ``docker compose`` does, as far as the local runner needs.

Only interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``$$``) and the per-service ``command``,
``environment`` and ``volumes`` are used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ComposeError", "Service", "interpolate", "load"]

_VAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class ComposeError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    command: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    #: named volume -> path inside the container
    volumes: dict[str, str] = field(default_factory=dict)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":?", "?") and unset:
            raise ComposeError(f"compose.yaml: {name}: {arg or 'must be set'}")
        if op in (":-", "-") and unset:
            return interpolate(arg, env)
        return value or ""

    return _VAR.sub(replace, text)


def _walk(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, list):
        return [_walk(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, env) for k, v in value.items()}
    return value


def load(path: Path, env: Mapping[str, str]) -> dict[str, Service]:
    """The services of a compose file, interpolated with ``env``."""
    document = yaml.safe_load(path.read_text())
    services: dict[str, Service] = {}
    for name, raw in document["services"].items():
        spec = _walk(raw, env)
        command = spec.get("command", [])
        environment = spec.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        volumes = {}
        for item in spec.get("volumes", []):
            source, _, target = (item if isinstance(item, str) else f"{item['source']}:{item['target']}").partition(":")
            if not source.startswith(("/", ".")):
                volumes[source] = target.split(":")[0]
        services[name] = Service(
            name=name,
            command=command if isinstance(command, list) else command.split(),
            environment={k: "" if v is None else str(v) for k, v in environment.items()},
            volumes=volumes,
        )
    return services
