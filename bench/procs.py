"""What the machine and its processes are and use: /proc readers, versions, broker counts."""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import uvloop

__all__ = ["cpu_seconds", "rss_bytes", "machine", "broker_counts", "self_cpu_seconds", "dpkg_version", "run_worker", "fresh_run_dir"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat`` utime + stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system  # not children: the stacks are (grand)children of this process


def fresh_run_dir(run_dir: Path, *, program: Path, missing: str) -> None:
    """Empty ``run_dir`` for a server the benchmark boots; first fail with ``missing`` where ``program`` is not
    installed (rather than as a subprocess error later)."""
    if not program.exists():
        raise RuntimeError(missing)
    if run_dir.exists():
        shutil.rmtree(run_dir)


def run_worker(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """A load-generator worker's job (in a spawned process): ``main`` on uvloop, its result with the CPU it
    took and the worker's pid.

    The collector is tuned like the gateway's (``services.gateway.__main__.tune_gc``): its full collections
    would otherwise show up as latency the gateway did not cause."""
    gc.set_threshold(50_000, 20, 100)
    gc.unfreeze()  # the process runs one job after another (bench/pool.py): the last one's garbage goes first
    gc.collect()
    gc.freeze()
    cpu0 = self_cpu_seconds()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(main)
    result["cpu_s"] = self_cpu_seconds() - cpu0
    result["pid"] = os.getpid()
    return result


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    versions = {"python": platform.python_version()}
    for dist in ("stomp.py", "fastapi", "uvicorn", "aiohttp", "hdrhistogram", "traits", "python-socketio",
                 "python-engineio", "aio-pika"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    versions["rabbitmq"] = dpkg_version("rabbitmq-server")
    versions["erlang"] = dpkg_version("erlang-base")
    versions["nginx"] = dpkg_version("nginx") or dpkg_version("nginx-light") or dpkg_version("nginx-core")
    versions["nchan"] = dpkg_version("libnginx-mod-nchan")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "loadavg_at_start": " ".join(load),
        "versions": versions,
        "argv": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def dpkg_version(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def broker_counts(stack: Any) -> dict[str, int]:
    """Queues and connections on the stack's broker, one node or the whole cluster (``Stack.rabbitmqctl``)."""
    counts = {}
    for what in ("queues", "connections", "stomp_connections"):
        out = stack.rabbitmqctl(f"list_{what}", *(["name"] if what == "queues" else []), "--no-table-headers")
        counts[what] = len([line for line in out.splitlines() if line.strip()])
    counts["connections"] += counts.pop("stomp_connections")  # STOMP ones are listed apart from AMQP ones
    return counts
