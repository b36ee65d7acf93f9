"""The python-socketio peer's processes: its own RabbitMQ node (AMQP) and 2 uvicorn replicas."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.amqpnode import amqp_node
from runner.stack import ROOT, free_port, http_ok

__all__ = ["SioPeer", "sio_peer"]


@dataclass
class SioPeer:
    ports: list[int]
    pids: list[int]

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def clients(self) -> int:
        """Socket.IO clients connected to all replicas now."""
        total = 0
        for port in self.ports:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/bench/clients")
                total += int(conn.getresponse().read())
            finally:
                conn.close()
        return total


@contextlib.contextmanager
def sio_peer(run_dir: Path, replicas: int = 2, timeout: float = 60) -> Iterator[SioPeer]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with amqp_node(run_dir / "rabbitmq") as node, contextlib.ExitStack() as stop:
        ports = [free_port() for _ in range(replicas)]
        procs = []
        for k, port in enumerate(ports, start=1):
            log = open(run_dir / f"replica-{k}.log", "wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bench.sio_server:app", "--host", "127.0.0.1", "--port", str(port),
                 "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", "--no-access-log",
                 "--log-level", "warning", "--backlog", "4096"],
                cwd=ROOT, env={**os.environ, "BENCH_AMQP_URL": node.url}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            log.close()
            procs.append(proc)
            stop.callback(_stop, proc)
        deadline = time.monotonic() + timeout
        for k, (port, proc) in enumerate(zip(ports, procs), start=1):
            while not http_ok(port, "/socket.io/?EIO=4&transport=polling"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"socketio replica {k} did not start: "
                                       f"{(run_dir / f'replica-{k}.log').read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        yield SioPeer(ports, [p.pid for p in procs])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
