"""HTTP load-generator clients: long-poll, SSE and WebSocket readers of the chat (on :mod:`bench.wire`;
log-ins, which are not measured, on aiohttp).

A chat message's text carries its intended send time (CLOCK_MONOTONIC is one
clock for every process on the machine), so a reader in any worker process
computes the latency of what it receives without shared state::

    bench <tag> <i> <intended>
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from hdrh.histogram import HdrHistogram

from bench.hist import Latency
from bench.wire import Endpoint, PollConnection, SseConnection, WsConnection, read_session
from bench.procs import run_worker

__all__ = ["ReaderJob", "Login", "login_many", "run_readers", "text_for", "parse_text"]


def text_for(tag: str, i: int, intended: float) -> str:
    return f"bench {tag} {i} {intended:.6f}"


def parse_text(tag: str, text: str) -> tuple[int, float] | None:
    parts = text.split()
    if len(parts) != 4 or parts[0] != "bench" or parts[1] != tag:
        return None
    return int(parts[2]), float(parts[3])


@dataclass
class Login:
    base: str
    token: str
    epoch: str
    seq: int


@dataclass
class ReaderJob:
    """One worker's share of the readers (picklable: runs in a spawned process)."""

    logins: list[Login]
    transport: str  # poll | sse | ws
    tag: str
    expected: int
    warmup_end: float
    deadline: float
    origin: str
    source_addresses: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    #: "chat": chat messages carrying their intended send time (``text_for``); "stamp": a model that
    #: changes by itself (``bench.models.StampedInstrument``): each tick's ``samples`` is a reading, its
    #: ``stamp`` (wall clock) the time of the change; ``warmup_end`` and ``window_end`` are then wall-clock
    #: times, readings stamped outside them are not counted
    kind: str = "chat"
    window_end: float = float("inf")


@dataclass
class _Reader:
    login: Login
    received: set[int] = field(default_factory=set)
    resets: int = 0
    errors: int = 0
    #: kind "stamp": the last ``samples`` value seen (the reading the next ``stamp`` belongs to)
    samples: int | None = None
    #: kind "stamp": a reading stamped after the window arrived, so every one inside it has (in order)
    finished: bool = False


def headers(token: str, origin: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Origin": origin}


async def login_many(bases: list[str], count: int, origin: str, *, concurrency: int = 50) -> list[Login]:
    """Log ``count`` sessions in, round-robin over ``bases``."""
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(k: int) -> Login:
            base = bases[k % len(bases)]
            async with sem:
                for _ in range(50):
                    async with http.post(f"{base}/api/login", json={"name": f"bench{k}"}, headers={"Origin": origin}) as r:
                        if r.status == 429:
                            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                            continue
                        r.raise_for_status()
                        body = await r.json()
                        return Login(base, body["session"], body["epoch"], body["seq"])
                raise RuntimeError("login kept being rate-limited")

        return list(await asyncio.gather(*(one(k) for k in range(count))))


def _handle(reader: _Reader, job: ReaderJob, latency: Latency, message: dict[str, Any], now: float) -> None:
    if job.kind == "stamp":
        _handle_stamp(reader, job, latency, message)
        return
    if message.get("type") != "trait_change" or message.get("trait") != "messages":
        return
    for item in message.get("added") or []:
        parsed = parse_text(job.tag, item.get("text", "")) if isinstance(item, dict) else None
        if parsed and parsed[0] not in reader.received:
            reader.received.add(parsed[0])
            latency.record(parsed[1], now)


def _handle_stamp(reader: _Reader, job: ReaderJob, latency: Latency, message: dict[str, Any]) -> None:
    if message.get("type") != "trait_change":
        return
    if message.get("trait") == "samples":
        reader.samples = message.get("value")
    elif message.get("trait") == "stamp" and reader.samples is not None:
        stamp = message["value"]
        if stamp > job.window_end:
            reader.finished = True
        elif job.warmup_end <= stamp <= job.window_end and reader.samples not in reader.received:
            reader.received.add(reader.samples)
            latency.record(stamp, time.time())


def _consume(reader: _Reader, job: ReaderJob, latency: Latency, payload: Any, now: float) -> None:
    """A reply, an SSE event or a WebSocket frame: one out message, a list, or a poll reply."""
    if isinstance(payload, list):
        for m in payload:
            _consume(reader, job, latency, m, now)
        return
    if not isinstance(payload, dict):
        return
    if payload.get("reset"):
        reader.resets += 1
        _from_state(reader, job, latency, payload.get("state") or {}, now)
    if "messages" in payload and "type" not in payload:
        for m in payload["messages"]:
            _handle(reader, job, latency, m, now)
    else:
        _handle(reader, job, latency, payload, now)
    if isinstance(payload.get("seq"), int):
        reader.login.seq = payload["seq"]
        reader.login.epoch = payload.get("epoch", reader.login.epoch)


def _from_state(reader: _Reader, job: ReaderJob, latency: Latency, state: dict[str, Any], now: float) -> None:
    if job.kind == "stamp":  # a reset: the readings in between were not seen one by one (lost)
        reader.samples = state.get("samples")
        return
    for item in state.get("messages") or []:
        if isinstance(item, dict):
            parsed = parse_text(job.tag, item.get("text", ""))
            if parsed and parsed[0] not in reader.received:
                reader.received.add(parsed[0])
                latency.record(parsed[1], now)


def _done(reader: _Reader, job: ReaderJob) -> bool:
    return reader.finished or len(reader.received) >= job.expected or time.monotonic() > job.deadline


async def _poll(endpoint: Endpoint, reader: _Reader, job: ReaderJob, latency: Latency) -> None:
    login = reader.login
    loop = asyncio.get_running_loop()

    # the request with "{since}" and "{epoch}" to fill in: built once, formatted per poll
    template = endpoint.request("GET", "/api/poll", {"since": "SINCE", "epoch": "EPOCH", "timeout": "5"})
    head, _, rest = template.partition(b"SINCE")
    middle, _, tail = rest.partition(b"EPOCH")

    def next_request() -> bytes | None:
        if _done(reader, job):
            return None
        return b"%s%d%s%s%s" % (head, login.seq, middle, quote(login.epoch).encode(), tail)

    while not _done(reader, job):
        conn = PollConnection(next_request, lambda status, body, now: on_reply(conn, status, body, now))

        def on_reply(conn: PollConnection, status: int, body: bytes, now: float) -> None:
            if status != 200:
                reader.errors += 1
                loop.call_later(0.2, lambda: conn.transport and not conn.transport.is_closing() and conn.send_next())
                return
            _consume(reader, job, latency, json.loads(body), now)
            conn.send_next()

        # failed: the server closed with a poll outstanding
        await read_session(endpoint, conn, reader, job.deadline, close_at_deadline=False,
                           failed=lambda: conn.in_flight and not _done(reader, job))


async def _stream(endpoint: Endpoint, reader: _Reader, job: ReaderJob, latency: Latency, ws: bool) -> None:
    """SSE or WebSocket: one long request, reopened from the reader's position until done."""
    login = reader.login
    while not _done(reader, job):
        query = {"since": str(login.seq), "epoch": login.epoch}

        def on_payload(payload: Any, now: float) -> None:
            _consume(reader, job, latency, payload, now)
            if reader.finished or len(reader.received) >= job.expected:
                conn.close()

        conn: SseConnection | WsConnection
        if ws:
            conn = WsConnection(endpoint, "/api/ws", query, on_payload, lambda status: None)
        else:
            extra = {"Accept": "text/event-stream", "Last-Event-ID": str(login.seq)}
            conn = SseConnection(endpoint.request("GET", "/api/events", query, extra=extra), on_payload, lambda status: None)
        await read_session(endpoint, conn, reader, job.deadline, failed=lambda: conn.failed)


async def _sse(endpoint: Endpoint, reader: _Reader, job: ReaderJob, latency: Latency) -> None:
    await _stream(endpoint, reader, job, latency, ws=False)


async def _ws(endpoint: Endpoint, reader: _Reader, job: ReaderJob, latency: Latency) -> None:
    await _stream(endpoint, reader, job, latency, ws=True)


_LOOPS = {"poll": _poll, "sse": _sse, "ws": _ws}


async def _run(job: ReaderJob) -> dict[str, Any]:
    latency = Latency(warmup_end=job.warmup_end)
    readers = [_Reader(login) for login in job.logins]
    addresses = job.source_addresses
    loop = _LOOPS[job.transport]
    await asyncio.gather(*(
        loop(Endpoint(r.login.base, r.login.token, job.origin, addresses[k % len(addresses)]), r, job, latency)
        for k, r in enumerate(readers)
    ))
    missing: dict[int, int] = {}
    for r in readers if job.kind == "chat" else ():
        for i in set(range(job.expected)) - r.received:
            missing[i] = missing.get(i, 0) + 1
    return {
        "missing": missing,
        #: kind "stamp": each reader's (lowest, highest, count) of the readings it saw in the window
        "windows": [(min(r.received), max(r.received), len(r.received)) if r.received else None for r in readers],
        "histogram": latency.hist.encode(),
        "count": latency.count,
        "skipped": latency.skipped,
        "received": sum(len(r.received) for r in readers),
        "expected": job.expected * len(readers),
        "resets": sum(r.resets for r in readers),
        "errors": sum(r.errors for r in readers),
    }


def run_readers(job: ReaderJob) -> dict[str, Any]:
    """Worker entry point (a spawned process): run the readers, return counts and the encoded histogram."""
    return run_worker(_run(job))


def decode_histogram(results: list[dict[str, Any]], warmup_end: float) -> Latency:
    latency = Latency(warmup_end=warmup_end)
    for r in results:
        latency.hist.add(HdrHistogram.decode(r["histogram"]))
        latency.count += r["count"]
        latency.skipped += r["skipped"]
    return latency
