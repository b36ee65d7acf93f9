"""The peers, driven like traitsweb: the same open-loop sender, the same message text (its intended send
time), readers in the same spawned load-generator processes, server CPU from /proc over the window.

* Nchan: ``POST /pub`` -> long-poll / EventSource subscribers (one nginx, 2 workers).
* python-socketio: a WebSocket client emits ``send`` on replica 1 -> ``chat`` to every client of both
  replicas through the AioPika manager, read over Engine.IO polling or WebSocket.

A round trip is the fan-out with one reader (on the other replica where there are two) at the round trip's
rate, as traitsweb's round trip is measured (sender on gateway-1, the other client on gateway-2).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.clients import decode_histogram, text_for
from bench.config import BenchConfig
from bench.nchan import nchan_server
from bench.openloop import aschedule
from bench.peer_clients import PeerJob, SioSender, run_peer_readers
from bench.procs import cpu_seconds, self_cpu_seconds
from bench.sio_peer import sio_peer
from bench.wire import Endpoint, PostConnection

__all__ = ["nchan_section", "sio_section", "post_open_loop"]

Sender = Callable[[str, float, float, float], Awaitable[dict[str, Any]]]


async def post_open_loop(endpoint: Endpoint, path: str, body_for: Callable[[int, float], bytes], ok: tuple[int, ...],
                         rate: float, seconds: float, start: float) -> dict[str, Any]:
    """Open loop: one POST per intended time on a free keep-alive connection (a new one when all are busy),
    never waiting for the previous reply. Returns what was sent, the achieved rate and the refused sends."""
    failures: list[str] = []
    refused: set[int] = set()
    free: list[PostConnection] = []
    posted: dict[PostConnection, int] = {}
    settled = asyncio.Event()

    def on_reply(conn: PostConnection, status: int, body: bytes, now: float) -> None:
        i = posted.pop(conn)
        if status not in ok:
            refused.add(i)
            failures.append(f"{status} {body[:200].decode(errors='replace')}")
        free.append(conn)
        if not posted:
            settled.set()

    async def connection() -> PostConnection:
        conn = PostConnection(lambda status, body, now: on_reply(conn, status, body, now))
        await endpoint.connect(lambda: conn)
        conn.closed.add_done_callback(lambda _: lost(conn))
        return conn

    def lost(conn: PostConnection) -> None:
        if conn in free:
            free.remove(conn)
        if conn in posted:
            i = posted.pop(conn)
            refused.add(i)
            failures.append("connection closed before the reply")
            if not posted:
                settled.set()

    free += [await connection() for _ in range(4)]
    async for i, intended in aschedule(rate, seconds, start=start):
        try:
            conn = free.pop() if free else await connection()
        except OSError as exc:
            refused.add(i)
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        settled.clear()
        posted[conn] = i
        conn.post(endpoint.request("POST", path, body=body_for(i, intended)))
    elapsed = time.monotonic() - start
    if posted:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled.wait(), 30)
    for conn in list(free) + list(posted):
        conn.close()
    total = int(rate * seconds)
    return {"sent": total, "achieved_rate": round(total / (elapsed + 1 / rate), 2), "send_failures": failures,
            "refused": refused}


def _body(tag: str) -> Callable[[int, float], bytes]:
    return lambda i, intended: json.dumps({"text": text_for(tag, i, intended)}).encode()


def _nchan_sender(base: str) -> Sender:
    async def send(tag: str, rate: float, seconds: float, start: float) -> dict[str, Any]:
        return await post_open_loop(Endpoint(base, "", base), f"/pub?chan={tag}", _body(tag), (200, 201, 202),
                                    rate, seconds, start)
    return send


def _sio_sender(base: str) -> Sender:
    async def send(tag: str, rate: float, seconds: float, start: float) -> dict[str, Any]:
        sender = SioSender(base)
        await sender.open()
        try:
            async for i, intended in aschedule(rate, seconds, start=start):
                sender.emit({"text": text_for(tag, i, intended)})
            elapsed = time.monotonic() - start
        finally:
            await asyncio.sleep(0.5)  # let the last frames leave before the close frame
            sender.close()
        total = int(rate * seconds)
        return {"sent": total, "achieved_rate": round(total / (elapsed + 1 / rate), 2), "send_failures": [],
                "refused": set()}
    return send


def _measure(config: BenchConfig, *, kind: str, transport: str, bases: list[str], clients: int, rate: float,
             seconds: float, send: Sender, pids: Callable[[], list[int]], workers: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    total_s = config.warmup + seconds
    start = time.monotonic() + config.lead + clients / 500
    expected = int(rate * total_s)
    deadline = start + total_s + 10
    reader_bases = [bases[k % len(bases)] for k in range(clients)]
    shares = [reader_bases[k::workers] for k in range(workers) if reader_bases[k::workers]]
    jobs = [PeerJob(kind, share, tag, expected, start + config.warmup, deadline) for share in shares]
    server = pids()
    cpu0 = [cpu_seconds(p) for p in server]
    pool = ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn"))
    with pool:
        futures = [pool.submit(run_peer_readers, job) for job in jobs]
        sender_cpu0 = self_cpu_seconds()
        sent = asyncio.run(send(tag, rate, total_s, start))
        sender_cpu = self_cpu_seconds() - sender_cpu0
        results = [f.result() for f in futures]
    cpu = sum(cpu_seconds(p) for p in server) - sum(cpu0)
    latency = decode_histogram(results, start + config.warmup)
    received = sum(r["received"] for r in results)
    lost = sum(n for r in results for i, n in r["missing"].items() if i not in sent["refused"])
    row = {
        "transport": transport,
        "clients": clients,
        "msgs/s intended": rate,
        "msgs/s achieved": sent["achieved_rate"],
        "deliveries/s intended": rate * clients,
        "deliveries/s achieved": round(latency.count / seconds, 1),
        "lost": lost,
        **{k.replace("_ms", " ms"): v for k, v in latency.summary().items() if k != "count"},
        "server cpu s / 1000 deliveries": round(cpu / max(received, 1) * 1000, 3),
        "load generator cpu s": round(sum(r["cpu_s"] for r in results) + sender_cpu, 2),
        "client errors": sum(r["errors"] for r in results),
        "sends refused": len(sent["send_failures"]),
    }
    if sent["send_failures"]:
        row["first send failure"] = sent["send_failures"][0]
    return row


def _rows(config: BenchConfig, kinds: dict[str, str], bases: list[str], send: Sender,
          pids: Callable[[], list[int]]) -> list[dict[str, Any]]:
    """The round trip (first transport, one reader on the last base), then the fan-out per transport."""
    first = next(iter(kinds))
    rows = [{"measure": "round trip", **_measure(
        config, kind=kinds[first], transport=first, bases=bases[-1:], clients=1, rate=config.rt_rate,
        seconds=config.rt_seconds, send=send, pids=pids, workers=1)}]
    for transport, kind in kinds.items():
        rows.append({"measure": "fan-out", **_measure(
            config, kind=kind, transport=transport, bases=bases, clients=config.fanout_clients,
            rate=config.fanout_rate, seconds=config.fanout_seconds, send=send, pids=pids, workers=config.workers)})
    return rows


def nchan_section(config: BenchConfig, run_dir: Path) -> dict[str, Any]:
    with nchan_server(run_dir) as server:
        rows = _rows(config, {"poll": "nchan-longpoll", "sse": "nchan-eventsource"}, [server.base],
                     _nchan_sender(server.base), server.workers)
    return {
        "description": f"Nchan {_nchan_version()} in Debian's nginx, 2 workers, on a loopback port: `POST /pub` "
        "(keep-alive, open loop) to long-poll (`If-Modified-Since` / `If-None-Match`) and EventSource "
        f"subscribers. Round trip: one long-poll subscriber at {config.rt_rate:g} messages/s for "
        f"{config.rt_seconds:g} s; fan-out: {config.fanout_clients} subscribers at {config.fanout_rate:g} "
        f"messages/s for {config.fanout_seconds:g} s (after {config.warmup:g} s of warm-up). "
        "Server CPU: the nginx workers.",
        "rows": rows,
    }


def sio_section(config: BenchConfig, run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with sio_peer(run_dir) as peer:
        rows = _rows(config, {"poll": "sio-polling", "ws": "sio-websocket"}, peer.bases,
                     _sio_sender(peer.bases[0]), lambda: peer.pids)
    return {
        "description": "python-socketio 5 (`AsyncServer`, ASGI under uvicorn with uvloop and httptools) with "
        "`AsyncAioPikaManager` on its own RabbitMQ node (AMQP), 2 replicas: a WebSocket client emits `send` on "
        "replica 1, the server emits `chat` to everyone (through the manager's exchange), read by Engine.IO 4 "
        "clients written on `bench/wire.py` (polling: one keep-alive connection per client; WebSocket) spread "
        "over both replicas. Round trip: one polling client on replica 2. Server CPU: the two replicas "
        "(not their RabbitMQ node).",
        "rows": rows,
    }


def _nchan_version() -> str:
    from bench.procs import _dpkg_version

    return _dpkg_version("libnginx-mod-nchan")
