"""HTTP load-generator clients (aiohttp): long-poll, SSE and WebSocket readers of the chat.

A chat message's text carries its intended send time (CLOCK_MONOTONIC is one
clock for every process on the machine), so a reader in any worker process
computes the latency of what it receives without shared state::

    bench <tag> <i> <intended>
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from bench.hist import Latency
from bench.procs import self_cpu_seconds

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


@dataclass
class _Reader:
    login: Login
    received: set[int] = field(default_factory=set)
    resets: int = 0
    errors: int = 0


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
    if message.get("type") != "trait_change" or message.get("trait") != "messages":
        return
    for item in message.get("added") or []:
        parsed = parse_text(job.tag, item.get("text", "")) if isinstance(item, dict) else None
        if parsed and parsed[0] not in reader.received:
            reader.received.add(parsed[0])
            latency.record(parsed[1], now)


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
    for item in state.get("messages") or []:
        if isinstance(item, dict):
            parsed = parse_text(job.tag, item.get("text", ""))
            if parsed and parsed[0] not in reader.received:
                reader.received.add(parsed[0])
                latency.record(parsed[1], now)


def _done(reader: _Reader, job: ReaderJob) -> bool:
    return len(reader.received) >= job.expected or time.monotonic() > job.deadline


async def _poll(http: aiohttp.ClientSession, reader: _Reader, job: ReaderJob, latency: Latency) -> None:
    login = reader.login
    while not _done(reader, job):
        params = {"since": str(login.seq), "epoch": login.epoch, "timeout": "5"}
        try:
            async with http.get(f"{login.base}/api/poll", params=params, headers=headers(login.token, job.origin)) as r:
                body = await r.read()
                now = time.monotonic()
                if r.status != 200:
                    reader.errors += 1
                    await asyncio.sleep(0.2)
                    continue
            _consume(reader, job, latency, json.loads(body), now)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            reader.errors += 1
            await asyncio.sleep(0.2)


async def _sse(http: aiohttp.ClientSession, reader: _Reader, job: ReaderJob, latency: Latency) -> None:
    login = reader.login
    while not _done(reader, job):
        hdrs = {**headers(login.token, job.origin), "Accept": "text/event-stream", "Last-Event-ID": str(login.seq)}
        params = {"since": str(login.seq), "epoch": login.epoch}
        try:
            async with http.get(f"{login.base}/api/events", params=params, headers=hdrs) as r:
                if r.status != 200:
                    reader.errors += 1
                    await asyncio.sleep(0.2)
                    continue
                data: list[str] = []
                while not _done(reader, job):
                    line = await asyncio.wait_for(r.content.readline(), max(0.1, job.deadline - time.monotonic()))
                    if not line:
                        break
                    text = line.decode().rstrip("\r\n")
                    if text.startswith("data:"):
                        data.append(text[5:].lstrip())
                    elif text == "" and data:
                        _consume(reader, job, latency, json.loads("\n".join(data)), time.monotonic())
                        data = []
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            reader.errors += 1
            await asyncio.sleep(0.2)


async def _ws(http: aiohttp.ClientSession, reader: _Reader, job: ReaderJob, latency: Latency) -> None:
    login = reader.login
    while not _done(reader, job):
        params = {"since": str(login.seq), "epoch": login.epoch}
        try:
            async with http.ws_connect(f"{login.base}/api/ws", params=params, headers=headers(login.token, job.origin)) as ws:
                while not _done(reader, job):
                    msg = await ws.receive(timeout=max(0.1, job.deadline - time.monotonic()))
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    _consume(reader, job, latency, json.loads(msg.data), time.monotonic())
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            reader.errors += 1
            await asyncio.sleep(0.2)


_LOOPS = {"poll": _poll, "sse": _sse, "ws": _ws}


async def _run(job: ReaderJob) -> dict[str, Any]:
    latency = Latency(warmup_end=job.warmup_end)
    readers = [_Reader(login) for login in job.logins]
    connectors = [aiohttp.TCPConnector(limit=0, local_addr=(addr, 0)) for addr in job.source_addresses]
    sessions = [aiohttp.ClientSession(connector=c, timeout=aiohttp.ClientTimeout(total=None)) for c in connectors]
    try:
        loop = _LOOPS[job.transport]
        await asyncio.gather(*(loop(sessions[k % len(sessions)], r, job, latency) for k, r in enumerate(readers)))
    finally:
        for s in sessions:
            await s.close()
    missing: dict[int, int] = {}
    for r in readers:
        for i in set(range(job.expected)) - r.received:
            missing[i] = missing.get(i, 0) + 1
    return {
        "missing": missing,
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
    cpu0 = self_cpu_seconds()
    result = asyncio.run(_run(job))
    result["cpu_s"] = self_cpu_seconds() - cpu0
    result["pid"] = os.getpid()
    return result


def decode_histogram(results: list[dict[str, Any]], warmup_end: float) -> Latency:
    latency = Latency(warmup_end=warmup_end)
    for r in results:
        latency.hist.add(HdrHistogram.decode(r["histogram"]))
        latency.count += r["count"]
        latency.skipped += r["skipped"]
    return latency
