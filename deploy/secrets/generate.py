#!/usr/bin/env python3
"""compose's one-shot ``secrets`` service: ``traitsweb-secrets DIR``.

Each secret is the value the environment exports, else the one kept in DIR by an earlier start, else a new
random one; each is written to DIR/NAME (one file per secret) for the other services to read (their
entrypoints, traitsweb-env and the rabbitmq image's, read ``*_FILE`` variables). Prints which it did, never
a value. The passwords are hex, which RabbitMQ's definitions and broker URLs take as they are.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

#: name -> random bytes when generated
SECRETS = {
    "TRAITSWEB_MODEL_PASSWORD": 16,
    "TRAITSWEB_GATEWAY_PASSWORD": 16,
    "TRAITSWEB_DESKTOP_PASSWORD": 16,
    "TRAITSWEB_SESSION_SECRET": 32,
    #: shared by the nodes of compose.cluster.yaml's RabbitMQ cluster
    "TRAITSWEB_ERLANG_COOKIE": 20,
}
#: what definitions.sh accepts in a password (and a URL carries unescaped)
ALLOWED = re.compile(r"[A-Za-z0-9._~-]+")


def resolve(directory: Path, name: str, size: int) -> tuple[str, str]:
    path = directory / name
    exported = os.environ.get(name, "")
    if exported:
        if not ALLOWED.fullmatch(exported):
            raise SystemExit(f"traitsweb-secrets: {name} may hold only A-Z a-z 0-9 . _ ~ -")
        return exported, "from the environment"
    kept = path.read_text().strip() if path.exists() else ""
    if kept:
        return kept, "kept"
    return secrets.token_hex(size), "generated"


def write(path: Path, value: str) -> None:
    """Atomically, readable by the stack's containers (they run as other users), written by nobody else."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o444)
        out.write(value)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    for name, size in SECRETS.items():
        value, how = resolve(directory, name, size)
        path = directory / name
        if not path.exists() or path.read_text() != value:
            write(path, value)
        print(f"traitsweb-secrets: {name}: {how}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
