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
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.clients import decode_histogram, text_for
from bench.config import BenchConfig
from bench.nchan import nchan_server
from bench.openloop import aschedule
from bench.peer_clients import PeerJob, SioSender, run_peer_readers
from bench.pool import readers
from bench.procs import cpu_seconds, dpkg_version, self_cpu_seconds
from bench.sio_peer import SioPeer, sio_peer
from bench.sender import post_open_loop
from bench.wire import Endpoint

__all__ = ["nchan_section", "sio_section"]

Sender = Callable[[str, float, float, float], Awaitable[dict[str, Any]]]


def chat_item(tag: str, i: int, intended: float) -> dict[str, Any]:
    """What a peer publishes: a chat item shaped like the one traitsweb delivers (user, text, time)."""
    return {"user": "bench", "text": text_for(tag, i, intended), "time": round(time.time(), 3)}


def _body(tag: str) -> Callable[[int, float], bytes]:
    return lambda i, intended: json.dumps(chat_item(tag, i, intended)).encode()


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
                sender.emit(chat_item(tag, i, intended))
            elapsed = time.monotonic() - start
        finally:
            await sender.aclose()
        total = int(rate * seconds)
        return {"sent": total, "achieved_rate": round(total / (elapsed + 1 / rate), 2), "send_failures": [],
                "refused": set()}
    return send


def _count(connected: Callable[[], int], tries: int = 1) -> int | None:
    """The peer's count of connected clients, or None when it did not answer in time ``tries`` times (busy)."""
    for _ in range(tries):
        try:
            return connected()
        except OSError:  # TimeoutError included
            continue
    return None


def _measure(config: BenchConfig, *, kind: str, transport: str, bases: list[str], clients: int, rate: float,
             seconds: float, send: Sender, pids: Callable[[], list[int]], workers: int,
             connected: Callable[[], int] | None = None, per_client_lead: float = 1 / 500) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    total_s = config.warmup + seconds
    reader_bases = [bases[k % len(bases)] for k in range(clients)]
    shares = [reader_bases[k::workers] for k in range(workers) if reader_bases[k::workers]]
    pool = readers(len(shares))  # started before the clock: the lead is for connecting only
    start = time.monotonic() + config.lead + clients * per_client_lead
    expected = int(rate * total_s)
    deadline = start + total_s + 10
    jobs = [PeerJob(kind, share, tag, expected, start + config.warmup, deadline) for share in shares]
    server = pids()
    cpu0 = [cpu_seconds(p) for p in server]
    before = 0 if connected is None else _count(connected, tries=5)
    futures = [pool.submit(run_peer_readers, job) for job in jobs]
    joined = None
    if connected is not None and before is not None:  # until every reader is connected (or the first send is due)
        while time.monotonic() < start - 0.1:
            now = _count(connected)  # a server too busy to answer in time is asked again
            joined = now - before if now is not None else joined
            if joined is not None and joined >= clients:
                break
            time.sleep(0.05)  # polling a count, not synchronising with the readers
    sender_cpu0 = self_cpu_seconds()
    sent = asyncio.run(send(tag, rate, total_s, start))
    sender_cpu = self_cpu_seconds() - sender_cpu0
    results = [f.result() for f in futures]
    cpu = sum(cpu_seconds(p) for p in server) - sum(cpu0)
    latency = decode_histogram(results, start + config.warmup)
    received = sum(r["received"] for r in results)
    lost = sum(n for r in results for i, n in r["missing"].items() if i not in sent["refused"])
    missing = sorted({i for r in results for i in r["missing"]} - sent["refused"])
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
    if joined is not None:
        row["clients connected at the first send"] = joined
    if missing:  # which messages (of 0 .. n-1, the first ones sent in the warm-up) someone did not get
        row["first missing"] = " ".join(str(i) for i in missing[:10]) + f" of {expected}"
    if sent["send_failures"]:
        row["first send failure"] = sent["send_failures"][0]
    return row


def _rows(config: BenchConfig, kinds: dict[str, str], bases: list[str], send: Sender,
          pids: Callable[[], list[int]], **options: Any) -> list[dict[str, Any]]:
    """The round trip (first transport, one reader on the last base), then the fan-out per transport."""
    first = next(iter(kinds))
    rows = [{"measure": "round trip", **_measure(
        config, kind=kinds[first], transport=first, bases=bases[-1:], clients=1, rate=config.rt_rate,
        seconds=config.rt_seconds, send=send, pids=pids, workers=1, **options)}]
    for transport, kind in kinds.items():
        rows.append({"measure": "fan-out", **_measure(
            config, kind=kind, transport=transport, bases=bases, clients=config.fanout_clients,
            rate=config.fanout_rate, seconds=config.fanout_seconds, send=send, pids=pids, workers=config.workers,
            **options)})
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


def sio_section(config: BenchConfig, run_dir: Path, running: SioPeer | None = None) -> dict[str, Any]:
    """python-socketio in ``run_dir`` (booted and stopped here), or the ``running`` one."""
    with contextlib.nullcontext(running) if running else sio_peer(run_dir) as peer:
        rows = _rows(config, {"poll": "sio-polling", "ws": "sio-websocket"}, peer.bases,
                     _sio_sender(peer.bases[0]), lambda: peer.pids, connected=peer.clients,
                     # a Socket.IO handshake is 3 requests and the client gets nothing sent before it
                     per_client_lead=1 / 100)
    return {
        "description": "python-socketio 5 (`AsyncServer`, ASGI under uvicorn with uvloop and httptools) with "
        "`AsyncAioPikaManager` on its own RabbitMQ node (AMQP), 2 replicas: a WebSocket client emits `send` on "
        "replica 1, the server emits `chat` to everyone (through the manager's exchange), read by Engine.IO 4 "
        "clients written on `bench/wire.py` (polling: one keep-alive connection per client; WebSocket) spread "
        "over both replicas. Round trip: one polling client on replica 2. Sending starts once every reader "
        "is connected (a Socket.IO client gets nothing emitted before it joined). Server CPU: the two replicas "
        "(not their RabbitMQ node).",
        "rows": rows,
    }


def _nchan_version() -> str:
    return dpkg_version("libnginx-mod-nchan")
