"""Model-driven updates: a model that changes by itself (the instrument at 20 readings/s) to many clients.

The model is ``bench.models:instrument``, ``examples.instrument`` with a ``stamp`` trait set to
``time.time()`` when each sample is taken (the last change of the tick, after the reading's append,
its trim and ``samples``). A client's latency is its own ``time.time()`` when the stamp arrives minus the
stamp; a reading is lost when a client never saw its ``samples`` change (a reset in between counts
the readings it skipped as lost too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ContextManager

from bench.clients import ReaderJob, decode_histogram, login_many, run_readers
from bench.config import BenchConfig
from bench.pool import readers
from bench.procs import cpu_seconds
from runner.stack import ROOT, Stack

__all__ = ["section", "lost"]
StackFactory = Callable[..., ContextManager[Stack]]


def lost(windows: list[tuple[int, int, int] | None]) -> tuple[int, int]:
    """(readings lost over all clients, readings in the window): every client should have seen every
    reading from the lowest to the highest any client saw in the window."""
    seen = [w for w in windows if w is not None]
    if not seen:
        return 0, 0
    low, high = min(w[0] for w in seen), max(w[1] for w in seen)
    span = high - low + 1
    return sum(span - (w[2] if w else 0) for w in windows), span


def _run(stack: Stack, config: BenchConfig, transport: str, bases: list[str], pids: list[int]) -> dict[str, Any]:
    origin = f"http://127.0.0.1:{stack.proxy_port}"
    logins = asyncio.run(login_many(bases, config.fanout_clients, origin))
    parts = [logins[k::config.workers] for k in range(config.workers) if logins[k::config.workers]]
    readers(len(parts))  # worker processes started before the clock
    lead = config.lead + len(logins) / 500
    wall_start = time.time() + lead
    window_from, window_to = wall_start + config.warmup, wall_start + config.warmup + config.fanout_seconds
    # late readings are late, not lost: 10 s for the last ones to arrive (as in the fan-out)
    deadline = time.monotonic() + lead + config.warmup + config.fanout_seconds + 10
    jobs = [ReaderJob(part, transport, "", 10**9, window_from, deadline, origin, kind="stamp", window_end=window_to)
            for part in parts]
    cpu0 = [cpu_seconds(p) for p in pids]
    began = time.monotonic()
    model_cpu0 = cpu_seconds(stack.pid("model"))
    pool = readers(len(jobs))
    results = [f.result() for f in [pool.submit(run_readers, job) for job in jobs]]
    cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu0)
    elapsed = time.monotonic() - began  # lead and warm-up included: the gateways' share of the cores throughout
    model_cpu = cpu_seconds(stack.pid("model")) - model_cpu0
    latency = decode_histogram(results, window_from)
    missed, span = lost([w for r in results for w in r["windows"]])
    summary = latency.summary()
    return {
        "transport": transport,
        "clients": len(logins),
        "replicas": len(pids),
        "readings in the window": span,
        "readings/s": round(span / config.fanout_seconds, 1),
        "deliveries/s": round(latency.count / config.fanout_seconds, 1),
        "lost": missed,
        **{k.replace("_ms", " ms"): v for k, v in summary.items() if k != "count"},
        "recorded": summary["count"],
        "gateway cpu s per s (replicas together)": round(cpu / elapsed, 2),
        "model cpu s": round(model_cpu, 2),
        "load generator cpu s": round(sum(r["cpu_s"] for r in results), 2),
        "resets": sum(r["resets"] for r in results),
        "client errors": sum(r["errors"] for r in results),
    }


def stack_request(model: str) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """The model's environment and the stack's options a section serving ``model`` (``bench.models``) asks
    for: this one and the generated page's, so the smoke run, where both serve one model, boots that stack
    ahead and both get it."""
    return {"model": {"TRAITSWEB_MODEL": model, "PYTHONPATH": str(ROOT)}}, {"gateways": 2, "proxy": True}


def section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    env, options = stack_request(config.driven_model)
    rows = []
    with stack_factory(config, "model-driven", model_env=env, **options) as stack:
        bases = stack.gateway_urls
        pids = [stack.pid(f"gateway-{k}") for k in (1, 2)]
        for transport in ("poll", "sse"):
            rows.append(_run(stack, config, transport, bases, pids))
    targets = {"poll": 100, "sse": 50}
    return {
        "description": f"`examples.instrument` (as `{config.driven_model}`, which adds a wall-clock `stamp` to each sample) "
        f"taking 20 readings/s by itself, each tick published as 4 changes (append, trim, `samples`, `stamp`), "
        f"to {config.fanout_clients} long-poll and then {config.fanout_clients} SSE clients over 2 replicas "
        f"(direct), for {config.fanout_seconds:g} s after {config.warmup:g} s of warm-up. Latency: the client's "
        "`time.time()` when a reading's `stamp` arrives minus the stamp (taken when the model sampled, before "
        "journaling and publishing). Lost: readings (`samples` values) a client did not see one by one within "
        "the window. Targets: long-poll p99 <= 100 ms, SSE p99 <= 50 ms, 0 lost.",
        "rows": rows,
        "summary": [f"model-driven {r['transport']}: {r['clients']} clients, {r['readings/s']} readings/s, "
                    f"p50 {r.get('p50 ms')} ms, p99 {r.get('p99 ms')} ms (target <= {targets[r['transport']]}), "
                    f"{r['lost']} lost" for r in rows],
    }
