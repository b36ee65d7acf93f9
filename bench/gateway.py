"""The gateway measurements: round trip, fan-out (poll, SSE, WebSocket), idle capacity, scaling."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Sized
from typing import Any, ContextManager

import aiohttp

from bench.clients import Login, ReaderJob, decode_histogram, headers, login_many, run_readers, text_for
from bench.config import BenchConfig
from bench.pool import readers
from bench.procs import broker_counts, cpu_seconds, rss_bytes, self_cpu_seconds
from bench.sender import post_open_loop
from bench.wire import Endpoint, WsConnection
from runner.stack import Stack

__all__ = ["round_trip", "fanout_section", "fanout_summary", "idle_section", "scaling_section"]

#: idle connections sharing one session (the gateway allows 8 held polls per session)
PER_SESSION = 7
StackFactory = Callable[..., ContextManager[Stack]]


def _origin(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.proxy_port}"


async def _send_all(base: str, token: str, origin: str, tag: str, rate: float, seconds: float, start: float) -> dict[str, Any]:
    """Open loop: one POST /api/send per intended time, never waiting for the previous reply."""

    def body(i: int, intended: float) -> bytes:
        return json.dumps({"trait": "entry_field", "value": text_for(tag, i, intended)}).encode()

    return await post_open_loop(Endpoint(base, token, origin), "/api/send", body, (202,), rate, seconds, start)


def _spawn_readers(jobs: list[ReaderJob]) -> list[Any]:
    pool = readers(len(jobs))
    return [pool.submit(run_readers, job) for job in jobs]


def _split(logins: list[Login], parts: int) -> list[list[Login]]:
    return [logins[k::parts] for k in range(parts) if logins[k::parts]]


def _lost(results: list[dict[str, Any]], refused: set[int]) -> int:
    """Deliveries missing of messages the gateway accepted (202); a refused send (503) is not lost, it failed."""
    return sum(n for r in results for i, n in r["missing"].items() if i not in refused)


# -- 1. round trip ---------------------------------------------------------------------
def round_trip(stack: Stack, config: BenchConfig) -> dict[str, Any]:
    """Sender polls gateway-1 and posts there; the other client polls gateway-2."""
    origin, tag = _origin(stack), uuid.uuid4().hex[:8]
    bases = stack.gateway_urls
    logins = asyncio.run(login_many(bases, 2, origin))
    total_s = config.warmup + config.rt_seconds
    readers(len(logins))  # started before the clock: the lead is for connecting only
    start = time.monotonic() + config.lead
    expected = int(config.rt_rate * total_s)
    jobs = [
        ReaderJob([login], "poll", tag, expected, start + config.warmup, start + total_s + 30, origin)
        for login in logins
    ]
    futures = _spawn_readers(jobs)
    cpu0 = self_cpu_seconds()
    sent = asyncio.run(_send_all(bases[0], logins[0].token, origin, tag, config.rt_rate, total_s, start))
    sender_cpu = self_cpu_seconds() - cpu0
    results = [f.result() for f in futures]
    out: dict[str, Any] = {"intended_rate": config.rt_rate, **sent,
                           "load_generator_cpu_s": round(sum(r["cpu_s"] for r in results) + sender_cpu, 3)}
    for who, r in zip(("sender", "other"), results):
        out["latency_" + who] = decode_histogram([r], start + config.warmup).summary()
    out["lost"] = _lost(results, sent["refused"])
    out["refused"] = sorted(out.pop("refused"))
    return out


# -- 2. fan-out ------------------------------------------------------------------------
def _fanout(stack: Stack, config: BenchConfig, transport: str, logins: list[Login], bases: list[str],
            pids: list[int], seconds: float, count_broker: bool = False) -> dict[str, Any]:
    origin, tag = _origin(stack), uuid.uuid4().hex[:8]
    total_s = config.warmup + seconds
    readers(len(_split(logins, config.workers)))  # started before the clock: the lead is for connecting only
    start = time.monotonic() + config.lead + len(logins) / 500
    expected = int(config.fanout_rate * total_s)
    deadline = start + total_s + 10
    jobs = [ReaderJob(part, transport, tag, expected, start + config.warmup, deadline, origin)
            for part in _split(logins, config.workers)]
    cpu0 = [cpu_seconds(p) for p in pids]
    counts: dict[str, Any] = {}
    # counted once the readers are connected and before the first send: rabbitmqctl boots an Erlang VM (~3 s
    # of CPU), which must land in the warm-up, not in the measured window (where it had added ~100 ms to p99)
    counter = threading.Timer(max(0.0, start - 1.5 - time.monotonic()),
                              lambda: counts.update(broker_counts(stack)))
    if count_broker:
        counter.start()
    futures = _spawn_readers(jobs)
    sender = next(login for login in logins if login.base == bases[0])
    sender_cpu0 = self_cpu_seconds()
    sent = asyncio.run(_send_all(bases[0], sender.token, origin, tag, config.fanout_rate, total_s, start))
    sender_cpu = self_cpu_seconds() - sender_cpu0
    results = [f.result() for f in futures]
    if count_broker:
        counter.join()
    cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu0)
    latency = decode_histogram(results, start + config.warmup)
    received = sum(r["received"] for r in results)
    row = {
        "transport": transport,
        "clients": len(logins),
        "replicas": len(pids),
        "msgs/s intended": config.fanout_rate,
        "msgs/s achieved": sent["achieved_rate"],
        "deliveries/s intended": config.fanout_rate * len(logins),
        "deliveries/s achieved": round(latency.count / seconds, 1),
        "lost": _lost(results, sent["refused"]),
        **{k.replace("_ms", " ms"): v for k, v in latency.summary().items() if k != "count"},
        "gateway cpu s / 1000 deliveries": round(cpu / max(received, 1) * 1000, 3),
        "load generator cpu s": round(sum(r["cpu_s"] for r in results) + sender_cpu, 2),
        "resets": sum(r["resets"] for r in results),
        "client errors": sum(r["errors"] for r in results),
        "sends refused": len(sent["send_failures"]),
    }
    if sent["send_failures"]:
        row["first send failure"] = sent["send_failures"][0]
    if counts:
        row["broker queues / connections"] = f"{counts['queues']} / {counts['connections']}"
    return row


def fanout_section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    rows = []
    broker = []
    with stack_factory(config, "fanout", gateways=2, proxy=False) as stack:
        bases = stack.gateway_urls
        pids = [stack.pid(f"gateway-{k}") for k in (1, 2)]
        if config.fanout_clients > 10:  # the broker with 10 browsers (else the main run below is that)
            small = asyncio.run(login_many(bases, 10, _origin(stack)))
            few = _fanout(stack, config, "poll", small, bases, pids, min(config.fanout_seconds, 5), count_broker=True)
            broker.append({"browsers": 10, "replicas": 2, "queues / connections": few.get("broker queues / connections")})
        logins = asyncio.run(login_many(bases, config.fanout_clients, _origin(stack)))
        for transport in config.transports:
            row = _fanout(stack, config, transport, logins, bases, pids, config.fanout_seconds,
                          count_broker=transport == "poll" and config.broker_counts)
            rows.append(row)
            if "broker queues / connections" in row:
                broker.append({"browsers": len(logins), "replicas": 2,
                               "queues / connections": row["broker queues / connections"]})
    rows += [{"transport": "broker", **b} for b in broker]
    return {
        "description": f"{config.fanout_clients} clients spread over 2 replicas (direct), one chat message every "
        f"{1000 / config.fanout_rate:g} ms for {config.fanout_seconds:g} s after {config.warmup:g} s of warm-up; "
        f"readers in {config.workers} load-generator processes. Broker counts are taken with the readers "
        "connected, 1.5 s before the first send (inside the warm-up).",
        "rows": rows,
        "summary": fanout_summary(rows),
    }


def fanout_summary(rows: list[dict[str, Any]]) -> list[str]:
    fanout = [r for r in rows if r.get("transport") != "broker"]
    broker = [r for r in rows if r.get("transport") == "broker"]
    summary = [
        f"fan-out {r['transport']}: {r['clients']} clients, {r['deliveries/s achieved']} of "
        f"{r['deliveries/s intended']} deliveries/s, p99 {r.get('p99 ms')} ms, {r['lost']} lost, "
        f"{r['gateway cpu s / 1000 deliveries']} gateway CPU s per 1000 deliveries"
        for r in fanout
    ]
    if broker:
        summary.append("broker queues / connections: " + "; ".join(
            f"{b['browsers']} browsers: {b['queues / connections']}" for b in broker))
    return summary


# -- 3. idle capacity --------------------------------------------------------------------
async def _hold(base: str, logins: list[Login], origin: str, steps: tuple[int, ...], pid: int,
                settle: float) -> list[dict[str, Any]]:
    """Hold ``steps[-1]`` long-polls open on one replica, measuring its RSS at every step."""
    addresses = [f"127.0.0.{k}" for k in range(2, 6)]
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(a, 0)),
                                      timeout=aiohttp.ClientTimeout(total=None)) for a in addresses]
    errors: list[str] = []
    replies = 0
    stop = asyncio.Event()

    async def client(k: int) -> None:
        nonlocal replies
        login = logins[k // PER_SESSION]
        http = sessions[k % len(sessions)]
        since, epoch = login.seq, login.epoch  # later log-ins moved the state on: the first poll catches up
        while not stop.is_set():
            params = {"since": str(since), "epoch": epoch, "timeout": "25"}
            try:
                async with http.get(f"{base}/api/poll", params=params, headers=headers(login.token, origin)) as r:
                    body = await r.read()
                    if r.status != 200:
                        errors.append(str(r.status))
                        await asyncio.sleep(1)
                        continue
                replies += 1
                reply = json.loads(body)
                since, epoch = reply["seq"], reply["epoch"]
            except (aiohttp.ClientError, OSError) as exc:
                errors.append(type(exc).__name__)
                await asyncio.sleep(1)

    rss0 = rss_bytes(pid)
    rows = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for step in steps:
            began = time.monotonic()
            while len(tasks) < step:
                tasks.append(asyncio.create_task(client(len(tasks))))
                if len(tasks) % 200 == 0:
                    await asyncio.sleep(0.05)  # let the connections open in waves
            # polls accepted, caught up and parked
            rows.append(await _held_step(step, began, pid, rss0, settle, errors, "replies", lambda: replies))
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in sessions:
            await s.close()
    rows.insert(0, {"clients": 0, "gateway RSS MiB": round(rss0 / 2**20, 1)})
    return rows


async def _held_step(step: int, began: float, pid: int, rss0: int, settle: float, errors: Sized, what: str,
                     count: Callable[[], int]) -> dict[str, Any]:
    """One row of a hold ramp once ``step`` clients are open: half of ``settle`` for them to settle, then
    the gateway's RSS and how many ``what`` (``count()``) they got in the other half."""
    await asyncio.sleep(settle / 2)
    before = count()
    await asyncio.sleep(settle / 2)
    rss = rss_bytes(pid)
    return {
        "clients": step, "ramp s": round(time.monotonic() - began, 1),
        "gateway RSS MiB": round(rss / 2**20, 1),
        "KiB per client": round((rss - rss0) / 1024 / step, 2),
        "client errors so far": len(errors),
        f"{what} in the last {settle / 2:g} s": count() - before,
    }


async def _hold_ws(base: str, logins: list[Login], origin: str, steps: tuple[int, ...], pid: int,
                   settle: float) -> list[dict[str, Any]]:
    """Hold ``steps[-1]`` idle WebSockets open on one replica, measuring its RSS at every step."""
    addresses = [f"127.0.0.{k}" for k in range(2, 6)]
    errors: list[str] = []
    payloads = 0
    conns: list[WsConnection] = []

    def on_payload(payload: Any, now: float) -> None:
        nonlocal payloads
        payloads += 1

    async def open_one(k: int) -> None:
        login = logins[k // PER_SESSION]
        endpoint = Endpoint(base, login.token, origin, local_address=addresses[k % len(addresses)])
        conn = WsConnection(endpoint, "/api/ws", {"since": str(login.seq), "epoch": login.epoch}, on_payload,
                            lambda status: errors.append(str(status)) if status != 101 else None)
        try:
            await endpoint.connect(lambda: conn)
        except OSError as exc:
            errors.append(type(exc).__name__)
            return
        conn.closed.add_done_callback(lambda _: errors.append("closed") if not stopping else None)
        conns.append(conn)

    stopping = False
    rss0 = rss_bytes(pid)
    rows = []
    try:
        opened = 0
        for step in steps:
            began = time.monotonic()
            while opened < step:
                wave = range(opened, min(step, opened + 200))
                await asyncio.gather(*(open_one(k) for k in wave))  # connections open in waves
                opened = wave.stop
            # upgraded, caught up with the log-ins after their own, idle
            rows.append(await _held_step(step, began, pid, rss0, settle, errors, "messages", lambda: payloads))
    finally:
        stopping = True
        for conn in conns:
            conn.close()
    rows.insert(0, {"clients": 0, "gateway RSS MiB": round(rss0 / 2**20, 1)})
    return rows


def idle_section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    rows = []
    for transport, hold in (("long-poll", _hold), ("WebSocket", _hold_ws)):
        with stack_factory(config, f"idle-{transport}", gateways=1, proxy=False) as stack:
            base = stack.gateway_urls[0]
            # the gateway holds at most 8 waits per session (MAX_HELD_PER_SESSION): 7 connections share one
            logins = asyncio.run(login_many([base], -(-config.idle_steps[-1] // PER_SESSION), _origin(stack)))
            pid = stack.pid("gateway-1")
            held = asyncio.run(hold(base, logins, _origin(stack), config.idle_steps, pid, config.idle_settle))
        rows += [{"transport": transport, **row} for row in held]
    lasts = [r for r in rows if r["clients"] == config.idle_steps[-1]]
    return {
        "description": f"Idle long-polls (`timeout=25`), then (on a fresh stack) idle WebSockets, held on one "
        f"replica, opened from 127.0.0.2-5, {PER_SESSION} connections per session (the gateway allows 8 held "
        "waits per session). Each client follows the `seq` of its replies like a browser, so after its first "
        "poll catches up with the log-ins that came after its own, it is held (the replies column counts "
        "answers in the second half of each settle, ~0 when idle). Memory per client = (RSS now - RSS before) "
        "/ clients.",
        "rows": rows,
        "summary": [f"idle: {r['clients']} {r['transport']} clients held on one replica, {r.get('KiB per client')} "
                    f"KiB per client (target <= 8), {r.get('client errors so far')} client errors" for r in lasts],
    }


# -- 3b. bigger ---------------------------------------------------------------------------
def bigger_section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    """SSE and WebSocket at ``big_clients`` x ``big_rate``: where the machine's cores run out."""
    big = dataclasses.replace(config, fanout_rate=config.big_rate)
    rows = []
    with stack_factory(config, "bigger", gateways=2, proxy=False) as stack:
        bases = stack.gateway_urls
        pids = [stack.pid(f"gateway-{k}") for k in (1, 2)]
        logins = asyncio.run(login_many(bases, config.big_clients, _origin(stack)))
        for transport in ("sse", "ws"):
            rows.append(_fanout(stack, big, transport, logins, bases, pids, config.big_seconds))
    return {
        "description": f"{config.big_clients} SSE, then WebSocket clients over 2 replicas (direct), one chat message "
        f"every {1000 / config.big_rate:g} ms for {config.big_seconds:g} s after {config.warmup:g} s of warm-up "
        f"({config.big_clients * config.big_rate:,.0f} deliveries/s intended). Target: p99 <= 100 ms, 0 lost. "
        "`deliveries/s achieved` below the intended rate is where the 2 cores ran out.",
        "rows": rows,
        "summary": [f"bigger {r['transport']}: {r['clients']} clients, {r['deliveries/s achieved']} of "
                    f"{r['deliveries/s intended']} deliveries/s, p99 {r.get('p99 ms')} ms (target <= 100), "
                    f"{r['lost']} lost, {r['gateway cpu s / 1000 deliveries']} gateway CPU s per 1000 deliveries"
                    for r in rows],
    }


# -- 4. scaling --------------------------------------------------------------------------
def scaling_section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    rows = []
    for replicas in config.scaling_replicas:
        with stack_factory(config, f"scaling-{replicas}", gateways=replicas, proxy=True) as stack:
            bases = [stack.proxy_url]
            pids = [stack.pid(f"gateway-{k}") for k in range(1, replicas + 1)]
            logins = asyncio.run(login_many(bases, config.fanout_clients, _origin(stack)))
            rows.append(_fanout(stack, config, "poll", logins, bases, pids, config.scaling_seconds))
    return {
        "description": f"Long-poll fan-out through the nginx proxy: {config.fanout_clients} clients, "
        f"{config.fanout_rate:g} messages/s, {config.scaling_seconds:g} s.",
        "rows": rows,
        "summary": [f"scaling: {r['replicas']} replica(s): {r['deliveries/s achieved']} deliveries/s, p99 "
                    f"{r.get('p99 ms')} ms" for r in rows],
    }


