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
    #: seconds between starting the readers (in processes already running, bench/pool.py) and the first send
    lead: float = 5.0
    #: count the broker's queues and connections in fan-out (three `rabbitmqctl` runs, an Erlang VM each)
    broker_counts: bool = True
    #: model-driven updates: the model served (``bench.models``)
    driven_model: str = "bench.models:instrument"
    #: generated page: the model served (``bench.models``) and seconds of further changes measured
    page_model: str = "bench.models:page_full"
    page_seconds: float = 10.0
    #: bigger: SSE and WebSocket clients, messages per second, seconds
    big_clients: int = 5000
    big_rate: float = 10.0
    big_seconds: float = 30.0
    #: chat at its cap: messages filled and their length, joins timed (HTTP, then pages), timed new messages
    cap_fill: int = 10_005
    #: ... a history where the snapshot has just reached its bound (TRAITSWEB_SNAPSHOT_MAX_BYTES, 256 KiB)
    cap_bounded: int = 500
    cap_length: int = 1000
    cap_joins: int = 500
    cap_page_joins: int = 5
    cap_messages: int = 200
    cap_rate: float = 10.0
    #: idle capacity: seconds for each step's clients to settle (half), then to count what they still get
    idle_settle: float = 5.0
    #: runs of every headline section (traitsweb's round trip and fan-out, the floor, each peer)
    repeats: int = 3


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
    rt_rate=20, rt_seconds=0.5, warmup=0.25,
    fanout_clients=10, fanout_rate=10, fanout_seconds=0.5,
    idle_steps=(50,), idle_settle=1.0,
    scaling_replicas=(2,), scaling_seconds=0.5,
    model_inputs=200,
    workers=1,
    lead=0.5,
    repeats=1,
    broker_counts=False,
    # one model (and one stack) for both sections in the smoke run
    driven_model="bench.models:quick",
    page_model="bench.models:quick",
    page_seconds=0.5,
    big_clients=20, big_rate=5.0, big_seconds=0.6,
    cap_fill=60, cap_bounded=20, cap_length=100, cap_joins=5, cap_page_joins=1, cap_messages=3, cap_rate=10.0,
)
