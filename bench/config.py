"""The two configurations: the full run (``make bench``) and the smoke run (``--quick``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.stack import ROOT

__all__ = ["BenchConfig", "FULL", "QUICK"]


@dataclass(frozen=True)
class BenchConfig:
    name: str
    report: Path
    #: round trip: messages per second and seconds, after warm-up seconds
    rt_rate: float
    rt_seconds: float
    warmup: float
    #: fan-out: long-poll (and SSE, WebSocket) clients, chat messages per second, seconds
    fanout_clients: int
    fanout_rate: float
    fanout_seconds: float
    #: idle capacity: clients held on one replica, in steps
    idle_steps: tuple[int, ...]
    #: scaling: replica counts behind nginx
    scaling_replicas: tuple[int, ...]
    scaling_seconds: float
    #: model throughput: inputs blasted at the model
    model_inputs: int
    #: transports measured in fan-out
    transports: tuple[str, ...] = ("poll", "sse", "ws")
    #: load-generator processes for the fan-out clients
    workers: int = 2
    #: seconds between starting the readers and the first send (spawning a worker takes ~1-2 s)
    lead: float = 5.0


FULL = BenchConfig(
    name="full",
    report=ROOT / "docs" / "benchmarks.md",
    rt_rate=20, rt_seconds=30, warmup=5,
    fanout_clients=1000, fanout_rate=20, fanout_seconds=60,
    idle_steps=(1000, 2500, 5000, 7500, 10_000),
    scaling_replicas=(1, 2, 3), scaling_seconds=30,
    model_inputs=5000,
)

QUICK = BenchConfig(
    name="quick",
    report=ROOT / ".run" / "bench-smoke" / "benchmarks.md",
    rt_rate=20, rt_seconds=2, warmup=0.5,
    fanout_clients=10, fanout_rate=5, fanout_seconds=2,
    idle_steps=(50,),
    scaling_replicas=(2,), scaling_seconds=2,
    model_inputs=200,
    workers=1,
    lead=2.0,
)
