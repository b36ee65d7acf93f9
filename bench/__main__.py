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
import subprocess
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
_sio_boot: list[concurrent.futures.Future[SioPeer]] = []
#: ... and one stack per other model (``model_env``), kept until the end of the run by ``_kept``
_by_model: dict[str, Stack] = {}
#: ... of which some boot in the background from the start (the model-driven one; the cluster's 3 nodes
#: take ~50 s, so the smoke run boots a cluster only when asked for it: ``--quick --only cluster``)
_booting: dict[str, concurrent.futures.Future[Stack]] = {}
#: the cluster section's stack: the options it asks for
_CLUSTER = {"brokers": 3, "gateways": 2, "proxy": False}
_kept: list[contextlib.ExitStack] = []


@contextlib.contextmanager
def stack(config: BenchConfig, name: str, *, model_env: dict[str, dict[str, str]] | None = None,
          **options: Any) -> Iterator[Stack]:
    """A benchmark stack; ``model_env`` (e.g. another ``TRAITSWEB_MODEL``), or a cluster (``brokers``), gets a
    stack of its own even in the quick run."""
    if _shared and not model_env and options.get("brokers", 1) == 1:
        yield _shared[0]
        return
    key = _key(model_env, options)
    if _shared and key in _booting:  # booted in the background since the run began
        _by_model[key] = _booting.pop(key).result()
    if _shared and key in _by_model:  # the quick run: sections asking for the same stack share it
        yield _by_model[key]
        return
    if _shared:
        _by_model[key] = _kept[0].enter_context(_new_stack(config, name, model_env, **options))
        yield _by_model[key]
        return
    with _new_stack(config, name, model_env, **options) as s:
        yield s


def _boot_ahead(config: BenchConfig, shared: contextlib.ExitStack, wanted: Callable[[str], bool]) -> None:
    """The smoke run boots the shared stack, then, one after the other in the background while the sections
    before theirs run, python-socketio's node and replicas and the model-driven sections' stack (the cluster's
    when asked for): its numbers mean nothing, its wall time is the test suite's. (Booted all at once, three
    RabbitMQ nodes on 2 cores took 17 s to be ready, one alone ~8 s.)"""
    from bench import model_driven

    _shared.append(shared.enter_context(stack(config, "shared", gateways=2)))
    booting = concurrent.futures.ThreadPoolExecutor(1)
    shared.callback(booting.shutdown, cancel_futures=True)

    def ahead(cm: contextlib.AbstractContextManager[Any]) -> concurrent.futures.Future[Any]:
        owner = contextlib.ExitStack()
        _kept.append(owner)  # _kept[0] is the shared stack's owner; _close_together closes the others
        shared.push(owner)  # unwound with the shared stack (after the boot, which the callback below waits for)
        return booting.submit(owner.enter_context, cm)

    shared.callback(lambda: concurrent.futures.wait([*_booting.values(), *_sio_boot]))
    peer = ahead(sio_peer(_peer_dir(config) / "socketio")) if wanted("python-socketio") else None
    if wanted("model-driven") or wanted("generated page"):
        model_env, options = model_driven.stack_request(config.driven_model)
        _booting[_key(model_env, options)] = ahead(_new_stack(config, "model-driven", model_env, **options))
    if wanted("cluster"):
        _booting[_key(None, _CLUSTER)] = ahead(_new_stack(config, "cluster", **_CLUSTER))
    if peer is not None:
        _sio_boot.append(peer)


def _sio_booted() -> SioPeer | None:
    """The smoke run's python-socketio peer, once its background boot is done (None in the full run)."""
    return _sio_boot[0].result() if _sio_boot else None


def _close_together(shared: contextlib.ExitStack) -> None:
    """Stop the smoke run's stacks and peer at once (one after the other they took ~15 s); what each owner
    then unwinds finds them stopped."""
    concurrent.futures.wait([*_booting.values(), *_sio_boot])
    for key, future in list(_booting.items()):
        if future.exception() is None:
            _by_model.setdefault(key, future.result())
    with concurrent.futures.ThreadPoolExecutor(8) as closing:
        for s in [*_shared, *_by_model.values()]:
            closing.submit(s.close)
        for owner in _kept[1:]:
            closing.submit(owner.close)


def _key(model_env: dict[str, dict[str, str]] | None, options: dict[str, Any]) -> str:
    """Which stack a section asks for, in the quick run (the same key, the same stack)."""
    return json.dumps([model_env, options], sort_keys=True)


def _new_stack(config: BenchConfig, name: str, model_env: dict[str, dict[str, str]] | None = None,
               **options: Any) -> Stack:
    """A stack of its own (not started: use it as a context manager) in a fresh run directory."""
    run_dir = ROOT / ".run" / f"bench-{config.name}" / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    options["env"] = {service: {**STACK_ENV.get(service, {}), **(model_env or {}).get(service, {})}
                      for service in {*STACK_ENV, *(model_env or {})}}
    return Stack(StackConfig(run_dir=run_dir, **options))


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
        saved["summary"] = _summary(saved["sections"]) + saved["errors"]
        report.write(config.report, saved, notes=_notes(config), findings=not args.quick)
        return 0
    # a TERM (e.g. from `timeout`) unwinds the `with` blocks, so every stack is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _raise_nofile()
    began_all, cpu0 = time.monotonic(), self_cpu_seconds()
    results: dict[str, Any] = {
        "command": "make bench-smoke" if args.quick else "make bench",
        "config": config.name,
        "machine": machine(),
        "sections": {},
        "summary": [],
        "errors": [],
    }

    def wanted(name: str) -> bool:
        if args.quick and name == "cluster":  # issue 13's cost, not a peer's: its smoke is a run of its own
            return "cluster" in args.only
        return not args.only or any(o in name for o in args.only)

    def run(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        if not wanted(name):
            return
        print(f"bench: {name} ... (at {time.monotonic() - began_all:.1f} s)", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            results["sections"][name] = fn()
        except Exception as exc:  # a failed section is reported, the others still run
            traceback.print_exc()
            results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            results["sections"][name] = {"description": f"FAILED: {type(exc).__name__}: {exc}", "rows": []}
        results["sections"][name]["wall_s"] = round(time.monotonic() - began, 1)

    with contextlib.ExitStack() as shared:
        shared.callback(pool.shutdown)
        _kept.append(shared)
        if args.quick:
            _boot_ahead(config, shared, wanted)
        _run_all(config, run, results)
        if args.quick:
            _close_together(shared)
    results["wall_s"] = round(time.monotonic() - began_all, 1)
    results["load_generator_cpu_s"] = round(self_cpu_seconds() - cpu0, 2)
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results["commit"] = _commit()
    measured = f"{results['finished']}, commit {results['commit']}"
    for section in results["sections"].values():
        section.setdefault("measured", measured)
    if args.only and not args.quick and config.report.with_suffix(".json").exists():
        results = _merged(json.loads(config.report.with_suffix(".json").read_text()), results, args.only)
    results["summary"] = _summary(results["sections"]) + results["errors"]
    report.write(config.report, results, notes=_notes(config), findings=not args.quick)
    print(f"bench: wrote {config.report}", file=sys.stderr)
    return 1 if any(e for e in results["errors"] if "skipped" not in e) else 0


def _run_all(config: BenchConfig, run: Callable[[str, Callable[[], dict[str, Any]]], None], results: dict[str, Any]) -> None:
    """Every system alone: one stack or peer server at a time, stopped before the next starts."""
    from bench import chat_cap, gateway, model_driven, page, peers

    peer_dir = _peer_dir(config)
    run("model throughput", lambda: _model(config))
    run("broker floor", lambda: repeat(config.repeats, lambda: _floor(config)))
    run("round trip", lambda: repeat(config.repeats, lambda: _round_trip(config)))
    run("fan-out", lambda: _fanout(config, lambda: gateway.fanout_section(config, stack)))
    run("Nchan", lambda: repeat(config.repeats, lambda: peers.nchan_section(config, peer_dir / "nchan")))
    run("python-socketio", lambda: repeat(config.repeats, lambda: peers.sio_section(
        config, peer_dir / "socketio", running=_sio_booted())))
    run("idle capacity", lambda: gateway.idle_section(config, stack))
    run("bigger", lambda: gateway.bigger_section(config, stack))
    run("scaling", lambda: gateway.scaling_section(config, stack))
    run("model-driven", lambda: model_driven.section(config, stack))
    run("generated page", lambda: page.section(config, stack))
    run("chat at cap", lambda: chat_cap.section(config, stack))
    run("cluster", lambda: _cluster(config))
    if not any(name in results["sections"] for name in compare.NEEDS):
        return
    results["sections"][compare.TITLE] = compare.section(results["sections"])


def _merged(saved: dict[str, Any], results: dict[str, Any], only: list[str]) -> dict[str, Any]:
    """The saved full report with the sections this ``--only`` run measured in place of theirs: a report
    keeps every section, each saying when, and at which commit, it was measured."""
    earlier = f"{saved['finished']}, commit {saved.get('commit', '?')}"
    sections = {name: {"measured": earlier, **section} for name, section in saved["sections"].items()}
    sections.pop(compare.TITLE, None)
    sections.update((name, section) for name, section in results["sections"].items() if name != compare.TITLE)
    if any(name in sections for name in compare.NEEDS):
        sections[compare.TITLE] = compare.section(sections)
        sections[compare.TITLE]["measured"] = "from the sections above"
    rerun = set(results["sections"])
    kept_errors = [e for e in saved.get("errors", []) if e.split(":", 1)[0] not in rerun]
    return {**results, "sections": sections, "errors": kept_errors + results["errors"],
            "command": f"{saved.get('command', 'make bench')}, then python -m bench "
                       f"{' '.join('--only ' + repr(o) for o in only)}"}


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "?"


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
        if s.config.model:  # the quick run's shared stack: the echo stands in for the model on its queue
            s.stop("model")
        try:
            base = echo_round_trip(s, config)
        finally:
            if s.config.model:
                s.start_program("model")
                s.wait_ready(60, ["model"])
    return {
        "description": f"Plain stomp.py (`bench/plainstomp.py`: TCP_NODELAY, no traitsweb code in the path) "
        f"through the stack's private RabbitMQ node alone (no model, no gateways): one message every "
        f"{1000 / config.rt_rate:g} ms for {config.rt_seconds:g} s after {config.warmup:g} s of warm-up, "
        "persistent with a receipt, through the exchange clients send input through to the model's input queue "
        "(as the stack's desktop user) consumed by name, as the model consumes it, by "
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


def _cluster(config: BenchConfig) -> dict[str, Any]:
    """The round trip on one node and on a 3-node cluster, in the same run; then the fan-out on the cluster."""
    from bench import gateway

    rows, p50 = [], {}
    # each a stack of its own in the full run; in the quick run the single node is the shared stack and the
    # round trip and the fan-out share one cluster (3 nodes take ~50 s to boot, ~20 s to stop)
    for brokers in (1, 3):
        with stack(config, f"cluster-{brokers}", **{**_CLUSTER, "brokers": brokers}) as s:
            gw = gateway.round_trip(s, config)
        p50[brokers] = gw["latency_other"].get("p50_ms")
        rows.append({"brokers": brokers, "path": "POST /api/send -> model -> long-poll (other replica)",
                     **_flat({**gw, "latency": gw["latency_other"]})})
    fanout = gateway.fanout_section(
        config, lambda config, name, **options: stack(config, "cluster-fanout", brokers=3, **options))
    rows += [{"brokers": 3, **row} for row in fanout["rows"]]
    ratio = p50[3] / p50[1] if p50[1] and p50[3] else None
    return {
        "description": f"The round trip of the round-trip section (one message every {1000 / config.rt_rate:g} ms "
        f"for {config.rt_seconds:g} s, posted to gateway-1, read by a long-poll on gateway-2) on a single RabbitMQ "
        "node and on a 3-node cluster (quorum input and control queues, each gateway reading the out topic "
        "through its own durable quorum queue), one after the other in the same run; then the fan-out section "
        "on the cluster.",
        "rows": rows,
        "summary": [f"cluster round trip p50 {p50[3]} ms, {ratio:.2f}x the single node's {p50[1]} ms "
                    "(target <= 1.5x)" if ratio else "cluster round trip: no p50 measured"],
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
    for name in ("fan-out", "bigger", "idle capacity", "scaling", "model-driven", "generated page", "chat at cap"):
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
