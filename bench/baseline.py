"""The raw broker floor: plain stomp.py -> RabbitMQ -> echo process (plain stomp.py) -> RabbitMQ -> stomp.py.

No traitsweb code in the path (``bench/plainstomp.py``); measured open loop like traitsweb's round trip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from bench.config import BenchConfig
from bench.echo import SEND_TO
from bench.hist import Latency
from bench.openloop import schedule
from bench.plainstomp import SEND_HEADERS, connect
from bench.procs import cpu_seconds, self_cpu_seconds
from runner.stack import ROOT, Stack

__all__ = ["echo_round_trip"]


def echo_round_trip(stack: Stack, config: BenchConfig) -> dict[str, Any]:
    url = stack.broker_url("desktop")
    echo = subprocess.Popen([sys.executable, "-m", "bench.echo", stack.broker_url("model")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None
        if echo.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.echo did not start")
        return _measure(url, config, echo.pid)
    finally:
        echo.terminate()
        echo.wait(30)


def _measure(url: str, config: BenchConfig, echo_pid: int) -> dict[str, Any]:
    reply_queue = f"/temp-queue/bench-{uuid.uuid4().hex[:8]}"
    intended: dict[int, float] = {}
    received: set[int] = set()
    lock = threading.Lock()
    start = time.monotonic() + 1.0
    latency = Latency(warmup_end=start + config.warmup)
    total = int(config.rt_rate * (config.warmup + config.rt_seconds))
    all_in = threading.Event()

    def on_reply(frame: Any) -> None:
        now = time.monotonic()
        i = json.loads(frame.body)["i"]
        with lock:
            if i in received or i not in intended:
                return
            received.add(i)
            latency.record(intended[i], now)
            if len(received) == total:
                all_in.set()

    conn = connect(url, on_reply)
    try:
        cpu0, echo_cpu0 = self_cpu_seconds(), cpu_seconds(echo_pid)
        for i, t in schedule(config.rt_rate, config.warmup + config.rt_seconds, start=start):
            with lock:
                intended[i] = t
            # a receipt per message, as the gateway asks for one on its hop to the model
            conn.send(SEND_TO, json.dumps({"i": i, "pad": "x" * 40}),
                      headers={**SEND_HEADERS, "reply-to": reply_queue, "receipt": f"m{i}"})
        elapsed = time.monotonic() - start
        all_in.wait(30)
        load_cpu, echo_cpu = self_cpu_seconds() - cpu0, cpu_seconds(echo_pid) - echo_cpu0
    finally:
        conn.disconnect()
    return {
        "intended_rate": config.rt_rate,
        "achieved_rate": round(total / (elapsed + 1 / config.rt_rate), 2),
        "sent": total,
        "received": len(received),
        "lost": total - len(received),
        "latency": latency.summary(),
        "load_generator_cpu_s": round(load_cpu, 3),
        "echo_cpu_s": round(echo_cpu, 3),
    }
