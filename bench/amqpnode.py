"""A private RabbitMQ node with an AMQP listener, for the python-socketio peer (its manager speaks AMQP).

It is the peer's own node (own data directory, ports, user and config), independent of how the
traitsweb stack configures its broker: the same Debian ``rabbitmq-server``, nothing shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.procs import fresh_run_dir
from runner.stack import RABBITMQ_SERVER, free_port

__all__ = ["AmqpNode", "amqp_node"]


@dataclass
class AmqpNode:
    port: int
    user: str
    password: str
    pid: int

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@127.0.0.1:{self.port}/"


def _amqp_ready(port: int) -> bool:
    """The listener answers an AMQP 0-9-1 protocol header with its Connection.Start method frame."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


@contextlib.contextmanager
def amqp_node(run_dir: Path, timeout: float = 90) -> Iterator[AmqpNode]:
    fresh_run_dir(run_dir, program=RABBITMQ_SERVER, missing="RabbitMQ is not installed: `make setup` installs Debian's rabbitmq-server")
    (run_dir / "data").mkdir(parents=True)
    port, dist = free_port(), free_port()
    password = secrets.token_hex(16)
    definitions = {
        "users": [{"name": "bench", "password": password, "tags": ""}],
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": "bench", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
    }
    (run_dir / "definitions.json").write_text(json.dumps(definitions))
    (run_dir / "enabled_plugins").write_text("[].\n")
    (run_dir / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{port}\n"
        f"load_definitions = {run_dir}/definitions.json\n"
        "log.console = true\nlog.console.level = warning\nlog.file = false\n"
    )
    env = {
        "HOME": os.environ.get("HOME", "/tmp"),
        "RABBITMQ_NODENAME": f"bench-peer-{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": f"{run_dir}/data",
        "RABBITMQ_LOG_BASE": str(run_dir),
        "RABBITMQ_ENABLED_PLUGINS_FILE": f"{run_dir}/enabled_plugins",
        "RABBITMQ_CONFIG_FILE": f"{run_dir}/rabbitmq.conf",
        "RABBITMQ_ADVANCED_CONFIG_FILE": f"{run_dir}/advanced.config",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    command = [str(RABBITMQ_SERVER)]
    if os.geteuid() == 0:  # Debian's node runs as the rabbitmq user, who must own its files
        for path in [run_dir, *run_dir.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
        env["HOME"] = "/var/lib/rabbitmq"
        command = ["setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups", *command]
    log = open(run_dir / "rabbitmq.out", "wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + timeout
        while not _amqp_ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the peer's RabbitMQ node did not start: "
                                   f"{(run_dir / 'rabbitmq.out').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield AmqpNode(port, "bench", password, proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
