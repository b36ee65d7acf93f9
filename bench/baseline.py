"""Baseline round trip: stomp.py -> RabbitMQ -> echo process -> RabbitMQ -> stomp.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from bench.config import BenchConfig
from bench.echo import ECHO
from bench.hist import Latency
from bench.openloop import schedule
from runner.stack import ROOT, Stack
from traitsweb import protocol
from traitsweb.broker import StompClient
from traitsweb.settings import parse_broker_url

__all__ = ["echo_round_trip"]


def echo_round_trip(stack: Stack, config: BenchConfig) -> dict[str, Any]:
    env = {**os.environ, "TRAITSWEB_BROKER_URL": stack.broker_url("desktop"), "TRAITSWEB_HEARTBEAT_MS": "10000"}
    echo = subprocess.Popen(
        [sys.executable, "-m", "bench.echo"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert echo.stdout is not None
        if echo.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.echo did not start")
        return _measure(stack, config)
    finally:
        echo.terminate()
        echo.wait(30)


def _measure(stack: Stack, config: BenchConfig) -> dict[str, Any]:
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

    headers = {**protocol.SEND_HEADERS, "reply-to": reply_queue}
    with StompClient(parse_broker_url(stack.broker_url("desktop")), name="bench-baseline") as client:
        client.on_reply(reply_queue, on_reply)
        if not client.wait_connected(30):
            raise RuntimeError("baseline client: no broker")
        for i, t in schedule(config.rt_rate, config.warmup + config.rt_seconds, start=start):
            with lock:
                intended[i] = t
            client.send_async(ECHO, json.dumps({"i": i, "pad": "x" * 40}), headers=headers)
        elapsed = time.monotonic() - start
        all_in.wait(30)
    return {
        "intended_rate": config.rt_rate,
        "achieved_rate": round(total / (elapsed + 1 / config.rt_rate), 2),
        "sent": total,
        "received": len(received),
        "lost": total - len(received),
        "latency": latency.summary(),
    }
