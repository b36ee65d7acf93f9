"""``python -m bench [--quick]``: run every measurement, write the report.

The full run rewrites ``docs/benchmarks.md``; ``--quick`` (the smoke run of the
test suite) writes ``.run/bench-smoke/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import resource
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import compare, pool, report
from bench.baseline import echo_round_trip
from bench.config import FULL, QUICK, BenchConfig
from bench.model import model_throughput
from bench.procs import machine, self_cpu_seconds
from bench.runs import repeat
from bench.sio_peer import SioPeer, sio_peer
from runner.stack import ROOT, Stack, StackConfig

#: what every benchmark stack's services get: nobody is logged out for idleness mid-run
#: and the per-client rate limits are lifted (one address logs in 1,000 browsers)
STACK_ENV = {
    "model": {"TRAITSWEB_IDLE_TIMEOUT": "3600"},
    "gateway": {
        "TRAITSWEB_LOGIN_RATE": "100000", "TRAITSWEB_LOGIN_BURST": "100000",
        "TRAITSWEB_SEND_RATE": "100000", "TRAITSWEB_SEND_BURST": "100000",
        "TRAITSWEB_POLL_RATE": "100000", "TRAITSWEB_POLL_BURST": "100000",
        "TRAITSWEB_SESSIONS_PER_ADDRESS": "100000",
    },
}
#: the quick run shares one stack between all sections (a stack takes ~10 s to boot), and one
#: python-socketio peer booted alongside it
_shared: list[Stack] = []
_sio_shared: list[SioPeer] = []
#: ... and one stack per other model (``model_env``), kept until the end of the run by ``_kept``
_by_model: dict[str, Stack] = {}
_kept: list[contextlib.ExitStack] = []


@contextlib.contextmanager
def stack(config: BenchConfig, name: str, *, model_env: dict[str, dict[str, str]] | None = None,
          **options: Any) -> Iterator[Stack]:
    """A benchmark stack; ``model_env`` (e.g. another ``TRAITSWEB_MODEL``) gets a stack of its own even in
    the quick run."""
    if _shared and not model_env:
        yield _shared[0]
        return
    key = json.dumps([model_env, options], sort_keys=True)
    if _shared and key in _by_model:  # the quick run: sections asking for the same model share its stack
        yield _by_model[key]
        return
    run_dir = ROOT / ".run" / f"bench-{config.name}" / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    options["env"] = {service: {**STACK_ENV.get(service, {}), **(model_env or {}).get(service, {})}
                      for service in {*STACK_ENV, *(model_env or {})}}
    if _shared:
        _by_model[key] = _kept[0].enter_context(Stack(StackConfig(run_dir=run_dir, **options)))
        yield _by_model[key]
        return
    with Stack(StackConfig(run_dir=run_dir, **options)) as s:
        yield s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny configuration; report under .run/")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the report from its JSON (e.g. after editing bench/findings.md)")
    parser.add_argument("--only", action="append", default=[], help="run only these sections (repeatable)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.render:
        saved = json.loads(config.report.with_suffix(".json").read_text())
        report.write(config.report, saved, notes=_notes(config), findings=not args.quick)
        return 0
    # a TERM (e.g. from `timeout`) unwinds the `with` blocks, so every stack is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _raise_nofile()
    began, cpu0 = time.monotonic(), self_cpu_seconds()
    results: dict[str, Any] = {
        "command": "make bench-smoke" if args.quick else "make bench",
        "config": config.name,
        "machine": machine(),
        "sections": {},
        "summary": [],
        "errors": [],
    }

    def run(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        if args.only and not any(o in name for o in args.only):
            return
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            results["sections"][name] = fn()
        except Exception as exc:  # a failed section is reported, the others still run
            traceback.print_exc()
            results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            results["sections"][name] = {"description": f"FAILED: {type(exc).__name__}: {exc}", "rows": []}
        results["sections"][name]["wall_s"] = round(time.monotonic() - began, 1)

    with contextlib.ExitStack() as shared, contextlib.ExitStack() as ahead:
        shared.callback(pool.shutdown)
        _kept.append(shared)
        if args.quick:  # the smoke run boots python-socketio's node and replicas while the stack boots
            with concurrent.futures.ThreadPoolExecutor(1) as booting:
                peer = None
                if not args.only or any(o in "python-socketio" for o in args.only):
                    peer = booting.submit(ahead.enter_context, sio_peer(_peer_dir(config) / "socketio"))
                _shared.append(shared.enter_context(stack(config, "shared", gateways=2)))
                if peer is not None:
                    _sio_shared.append(peer.result())
        _run_all(config, run, results)
    results["summary"] = _summary(results["sections"]) + results["errors"]
    results["wall_s"] = round(time.monotonic() - began, 1)
    results["load_generator_cpu_s"] = round(self_cpu_seconds() - cpu0, 2)
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report.write(config.report, results, notes=_notes(config), findings=not args.quick)
    print(f"bench: wrote {config.report}", file=sys.stderr)
    return 1 if any(e for e in results["errors"] if "skipped" not in e) else 0


def _run_all(config: BenchConfig, run: Callable[[str, Callable[[], dict[str, Any]]], None], results: dict[str, Any]) -> None:
    """Every system alone: one stack or peer server at a time, stopped before the next starts."""
    from bench import gateway, model_driven, page, peers

    peer_dir = _peer_dir(config)
    run("model throughput", lambda: _model(config))
    run("broker floor", lambda: repeat(config.repeats, lambda: _floor(config)))
    run("round trip", lambda: repeat(config.repeats, lambda: _round_trip(config)))
    run("fan-out", lambda: _fanout(config, lambda: gateway.fanout_section(config, stack)))
    run("Nchan", lambda: repeat(config.repeats, lambda: peers.nchan_section(config, peer_dir / "nchan")))
    run("python-socketio", lambda: repeat(config.repeats, lambda: peers.sio_section(
        config, peer_dir / "socketio", running=_sio_shared[0] if _sio_shared else None)))
    run("idle capacity", lambda: gateway.idle_section(config, stack))
    run("scaling", lambda: gateway.scaling_section(config, stack))
    run("model-driven", lambda: model_driven.section(config, stack))
    run("generated page", lambda: page.section(config, stack))
    if not any(name in results["sections"] for name in compare.NEEDS):
        return
    results["sections"]["traitsweb beside the peers"] = compare.section(results["sections"])


def _peer_dir(config: BenchConfig) -> Path:
    return ROOT / ".run" / f"bench-{config.name}"


def _fanout(config: BenchConfig, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    from bench import gateway

    out = repeat(config.repeats, fn)
    out["summary"] = gateway.fanout_summary(out["rows"])
    return out


def _model(config: BenchConfig) -> dict[str, Any]:
    with stack(config, "model", gateways=0, proxy=False) as s:
        row = model_throughput(s, config)
    return {
        "description": "One session's chat inputs sent as fast as the broker takes them (persistent, receipts); "
        "time until the model has applied and published all of them (SQLite journal on, ack after commit).",
        "rows": [row],
        "inputs_per_s": row["inputs_per_s"],
        "lost": row["lost"],
    }


def _floor(config: BenchConfig) -> dict[str, Any]:
    with stack(config, "floor", gateways=0, proxy=False, model=False) as s:
        base = echo_round_trip(s, config)
    return {
        "description": f"Plain stomp.py (`bench/plainstomp.py`: TCP_NODELAY, no traitsweb code in the path) "
        f"through the stack's private RabbitMQ node alone (no model, no gateways): one message every "
        f"{1000 / config.rt_rate:g} ms for {config.rt_seconds:g} s after {config.warmup:g} s of warm-up, "
        "persistent with a receipt, to a durable queue (declared like the model's input queue) consumed by "
        "`bench/echo.py` in its own process, which sends it back to a /temp-queue reply-to.",
        "floor": base,
        "rows": [{"path": "stomp.py -> RabbitMQ -> echo -> stomp.py", **_flat(base),
                  "load generator cpu s": base["load_generator_cpu_s"], "echo cpu s": base["echo_cpu_s"]}],
    }


def _round_trip(config: BenchConfig) -> dict[str, Any]:
    from bench import gateway

    with stack(config, "roundtrip", gateways=2, proxy=False) as s:
        gw = gateway.round_trip(s, config)
    rows = [{"path": f"POST /api/send -> model -> long-poll ({who})", **_flat({**gw, "latency": gw["latency_" + who]}),
             "load generator cpu s": gw["load_generator_cpu_s"]} for who in ("sender", "other")]
    return {
        "description": f"One message every {1000 / config.rt_rate:g} ms for {config.rt_seconds:g} s after "
        f"{config.warmup:g} s of warm-up, posted to gateway-1; the sender long-polls gateway-1, the other "
        "client gateway-2 (direct, no proxy).",
        "gateway": gw,
        "rows": rows,
    }


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    lat = r.get("latency", {})
    return {
        "intended/s": r.get("intended_rate"), "achieved/s": r.get("achieved_rate"),
        "sent": r.get("sent"), "lost": r.get("lost"),
        "p50 ms": lat.get("p50_ms"), "p90 ms": lat.get("p90_ms"), "p99 ms": lat.get("p99_ms"),
        "max ms": lat.get("max_ms"), "recorded": lat.get("count"),
    }


def _summary(sections: dict[str, Any]) -> list[str]:
    out = compare.summary(sections)
    model = sections.get("model throughput", {})
    if "inputs_per_s" in model:
        out.append(f"model: {model['inputs_per_s']} inputs/s applied with persistence, {model['lost']} lost")
    for name in ("fan-out", "idle capacity", "scaling", "model-driven", "generated page"):
        out += sections.get(name, {}).get("summary", [])
    return out


def _notes(config: BenchConfig) -> str:
    if config.name == "quick":
        return ("Smoke configuration: tiny loads, one run each, one stack shared by traitsweb's sections and "
                "python-socketio booted beside it; numbers are meaningless, it checks that the harness works.")
    return (
        "Each system (traitsweb, the plain stomp.py floor, Nchan, python-socketio) is measured alone, the others "
        "stopped, but with the load generator on the same machine: it shares the cores with RabbitMQ, the model, "
        "the gateway replicas or the peer's processes, so a busy machine (see the load average before each run) "
        "inflates the latencies; p99 varies by tens of milliseconds between runs on an idle one, hence 3 runs "
        "of every headline section."
    )


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, want)), hard))


if __name__ == "__main__":
    sys.exit(main())
