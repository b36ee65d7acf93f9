"""Model throughput: chat inputs applied per second, persistence on (SQLite journal, ack after commit)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import Future, wait
from typing import Any

from bench.config import BenchConfig
from bench.procs import cpu_seconds
from runner.stack import Stack
from traitsweb import protocol
from traitsweb.broker import StompClient
from traitsweb.settings import parse_broker_url

__all__ = ["model_throughput"]


def model_throughput(stack: Stack, config: BenchConfig) -> dict[str, Any]:
    session = uuid.uuid4().hex
    tag = uuid.uuid4().hex[:8]
    applied = 0
    joined = threading.Event()
    done = threading.Event()
    first_applied: list[float] = []

    def on_out(frame: Any) -> None:
        nonlocal applied
        msg = json.loads(frame.body)
        if msg.get("type") != "trait_change":
            return
        if msg["trait"] == "participants" and session in msg.get("set", {}):
            joined.set()
        elif msg["trait"] == "messages" and msg.get("op") == "list":
            for item in msg.get("added", []):
                if item.get("text", "").startswith(tag):
                    applied += 1
                    if applied == 1:
                        first_applied.append(time.monotonic())
                    if applied == config.model_inputs:
                        done.set()

    model_pid = stack.pid("model")
    with StompClient(parse_broker_url(stack.broker_url("desktop")), name="bench-model") as client:
        client.subscribe(protocol.OUT, on_out)
        if not client.wait_connected(30):
            raise RuntimeError("no broker")
        login = {"type": "login", "id": session, "name": "bench", "msg_id": uuid.uuid4().hex}
        client.send(protocol.CONTROL, protocol.encode(login), headers=protocol.SEND_HEADERS)
        if not joined.wait(30):
            raise RuntimeError("the model did not log the bench session in")
        cpu0 = cpu_seconds(model_pid)
        start = time.monotonic()
        receipts: list[Future[None]] = []
        for i in range(config.model_inputs):
            body = {"id": session, "trait": "entry_field", "value": f"{tag} {i}", "msg_id": uuid.uuid4().hex}
            receipts.append(client.send_async(protocol.INPUT, protocol.encode(body), headers=protocol.SEND_HEADERS))
        wait(receipts, timeout=120)
        enqueued = time.monotonic() - start
        finished = done.wait(300)
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(model_pid) - cpu0
    return {
        "inputs": config.model_inputs,
        "applied": applied,
        "lost": config.model_inputs - applied,
        "completed": finished,
        "seconds": round(elapsed, 3),
        "enqueue_seconds": round(enqueued, 3),
        "inputs_per_s": round(applied / elapsed, 1) if elapsed else 0,
        "model_cpu_s_per_1000": round(cpu / max(applied, 1) * 1000, 3),
    }
