"""The peers' load-generator clients (on :mod:`bench.wire`): Nchan long-poll and EventSource readers, and a
minimal Engine.IO 4 / Socket.IO 5 client over HTTP long-polling and WebSocket for python-socketio.

Every message's ``text`` is :func:`bench.clients.text_for` (its intended send time on CLOCK_MONOTONIC),
so latency is defined exactly as for traitsweb: intended send time -> the reader has decoded it.
The Engine.IO client speaks what a browser's does: the open packet, the Socket.IO CONNECT (``40``),
events (``42[...]``) and a pong (``3``) for every ping (``2``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from bench.clients import parse_text
from bench.hist import Latency
from bench.procs import run_worker
from bench.wire import Endpoint, PollConnection, SseConnection, WsConnection, read_session

__all__ = ["PeerJob", "run_peer_readers", "SioSender", "SEP"]

#: Engine.IO 4's packet separator in a long-poll payload
SEP = "\x1e"


@dataclass
class PeerJob:
    """One worker's share of a peer's readers (picklable: runs in a spawned process)."""

    kind: str  # nchan-longpoll | nchan-eventsource | sio-polling | sio-websocket
    bases: list[str]  # one per reader
    tag: str
    expected: int
    warmup_end: float
    deadline: float


@dataclass
class _Reader:
    base: str
    received: set[int] = field(default_factory=set)
    errors: int = 0


class _Sink:
    def __init__(self, job: PeerJob) -> None:
        self.job = job
        self.latency = Latency(warmup_end=job.warmup_end)

    def text(self, reader: _Reader, text: Any, now: float) -> None:
        parsed = parse_text(self.job.tag, text) if isinstance(text, str) else None
        if parsed and parsed[0] not in reader.received:
            reader.received.add(parsed[0])
            self.latency.record(parsed[1], now)

    def done(self, reader: _Reader) -> bool:
        return len(reader.received) >= self.job.expected or time.monotonic() > self.job.deadline


# -- Nchan ------------------------------------------------------------------------------
async def _nchan_longpoll(reader: _Reader, sink: _Sink) -> None:
    """GET /sub/lp, then again with the last reply's Last-Modified / Etag as If-Modified-Since /
    If-None-Match (Nchan's long-poll protocol); a timeout (304/408) polls again from the same place."""
    endpoint = Endpoint(reader.base, "", reader.base)
    position: dict[str, str] = {}
    loop = asyncio.get_running_loop()
    while not sink.done(reader):
        def next_request() -> bytes | None:
            if sink.done(reader):
                return None
            return endpoint.request("GET", "/sub/lp", {"chan": sink.job.tag}, extra=position)

        def on_reply(status: int, body: bytes, now: float) -> None:
            if status == 200:
                headers = conn.reply_headers
                position["If-Modified-Since"] = headers.get(b"last-modified", b"").decode()
                position["If-None-Match"] = headers.get(b"etag", b"").decode()
                sink.text(reader, json.loads(body).get("text"), now)
                if sink.done(reader):  # the next poll would be held until the subscriber timeout
                    conn.close()
                    return
            elif status not in (304, 408):
                reader.errors += 1
                loop.call_later(0.2, lambda: conn.transport and not conn.transport.is_closing() and conn.send_next())
                return
            conn.send_next()

        conn = PollConnection(next_request, on_reply)
        await read_session(endpoint, conn, reader, sink.job.deadline,
                           failed=lambda: conn.in_flight and not sink.done(reader))


async def _nchan_eventsource(reader: _Reader, sink: _Sink) -> None:
    endpoint = Endpoint(reader.base, "", reader.base)
    while not sink.done(reader):
        def on_payload(payload: Any, now: float) -> None:
            sink.text(reader, payload.get("text") if isinstance(payload, dict) else None, now)
            if len(reader.received) >= sink.job.expected:
                conn.close()

        request = endpoint.request("GET", "/sub/ev", {"chan": sink.job.tag}, extra={"Accept": "text/event-stream"})
        conn = SseConnection(request, on_payload, lambda status: None)
        await read_session(endpoint, conn, reader, sink.job.deadline,
                           failed=lambda: conn.failed or not sink.done(reader))


# -- python-socketio (Engine.IO 4) ------------------------------------------------------------
def _event(packet: str) -> Any:
    """The data of a Socket.IO EVENT packet ``2["chat",{...}]`` (the Engine.IO ``4`` already stripped)."""
    if not packet.startswith("2"):
        return None
    name, *args = json.loads(packet[1:])
    return args[0] if name == "chat" and args else None


async def _sio_polling(reader: _Reader, sink: _Sink) -> None:
    """One keep-alive connection, one request at a time: the open GET, POST ``40`` (CONNECT), then GETs;
    a ping in a GET's payload is answered by a POST ``3`` before the next GET."""
    endpoint = Endpoint(reader.base, "", reader.base)
    while not sink.done(reader):
        sid: list[str] = []
        posts: deque[bytes] = deque()
        kinds: deque[str] = deque()
        closing: list[bool] = []

        def next_request() -> bytes | None:
            query = {"EIO": "4", "transport": "polling", **({"sid": sid[0]} if sid else {})}
            if posts:
                kinds.append("post")
                return endpoint.request("POST", "/socket.io/", query, body=posts.popleft())
            if closing or sink.done(reader):
                return None
            kinds.append("get")
            return endpoint.request("GET", "/socket.io/", query)

        def on_reply(status: int, body: bytes, now: float) -> None:
            kind = kinds.popleft()
            if status != 200:
                reader.errors += 1
                conn.close(failed=True)
                return
            if kind == "get":
                for packet in body.decode().split(SEP):
                    if packet.startswith("0") and not sid:
                        sid.append(json.loads(packet[1:])["sid"])
                        posts.append(b"40")
                    elif packet == "2":
                        posts.append(b"3")
                    elif packet.startswith("4"):
                        data = _event(packet[1:])
                        if isinstance(data, dict):
                            sink.text(reader, data.get("text"), now)
                            if sink.done(reader) and not closing:
                                # an Engine.IO close, as a browser leaving sends: the server drops the
                                # session now, not after the ping timeout (it would keep queueing to it)
                                closing.append(True)
                                posts.append(b"1")
                    elif packet == "1":
                        conn.close(failed=True)
                        return
            conn.send_next()

        conn = PollConnection(next_request, on_reply)
        await read_session(endpoint, conn, reader, sink.job.deadline,
                           failed=lambda: not sink.done(reader))


def _sio_websocket_connection(endpoint: Endpoint, on_event: Callable[[Any, float], None],
                              on_connected: Callable[[], None] = lambda: None) -> WsConnection:
    """An Engine.IO WebSocket (no polling first): CONNECT after the open packet, pong every ping."""

    def on_packet(packet: str, now: float) -> None:
        if packet.startswith("0"):
            conn.send_text("40")
        elif packet == "2":
            conn.send_text("3")
        elif packet.startswith("40"):
            on_connected()
        elif packet.startswith("4"):
            on_event(_event(packet[1:]), now)
        elif packet == "1":
            conn.close(failed=True)

    conn = WsConnection(endpoint, "/socket.io/", {"EIO": "4", "transport": "websocket"}, on_packet,
                        lambda status: None, decode=lambda b: b.decode())
    return conn


async def _sio_websocket(reader: _Reader, sink: _Sink) -> None:
    endpoint = Endpoint(reader.base, "", reader.base)
    while not sink.done(reader):
        def on_event(data: Any, now: float) -> None:
            if isinstance(data, dict):
                sink.text(reader, data.get("text"), now)
            if len(reader.received) >= sink.job.expected:
                conn.close()

        conn = _sio_websocket_connection(endpoint, on_event)
        await read_session(endpoint, conn, reader, sink.job.deadline,
                           failed=lambda: conn.failed or not sink.done(reader))


class SioSender:
    """The python-socketio peer's sender: one Engine.IO WebSocket; ``emit(data)`` sends a ``send`` event."""

    def __init__(self, base: str) -> None:
        self.endpoint = Endpoint(base, "", base)
        self.connected = asyncio.get_running_loop().create_future()
        self.conn = _sio_websocket_connection(self.endpoint, lambda data, now: None,
                                              lambda: self.connected.done() or self.connected.set_result(None))

    async def open(self, timeout: float = 30) -> None:
        await self.endpoint.connect(lambda: self.conn)
        await asyncio.wait_for(self.connected, timeout)

    def emit(self, data: Any) -> None:
        self.conn.send_text("42" + json.dumps(["send", data], separators=(",", ":")))

    async def aclose(self, timeout: float = 30) -> None:
        """Close after the server has read everything sent (its close answers ours), or after ``timeout``."""
        self.conn.send_close()
        try:
            await asyncio.wait_for(asyncio.shield(self.conn.closed), timeout)
        except TimeoutError:
            pass
        self.conn.close()


_LOOPS = {"nchan-longpoll": _nchan_longpoll, "nchan-eventsource": _nchan_eventsource,
          "sio-polling": _sio_polling, "sio-websocket": _sio_websocket}


async def _run(job: PeerJob) -> dict[str, Any]:
    sink = _Sink(job)
    readers = [_Reader(base) for base in job.bases]
    await asyncio.gather(*(_LOOPS[job.kind](r, sink) for r in readers))
    missing: dict[int, int] = {}
    for r in readers:
        for i in set(range(job.expected)) - r.received:
            missing[i] = missing.get(i, 0) + 1
    return {
        "missing": missing,
        "histogram": sink.latency.hist.encode(),
        "count": sink.latency.count,
        "skipped": sink.latency.skipped,
        "received": sum(len(r.received) for r in readers),
        "expected": job.expected * len(readers),
        "resets": 0,
        "errors": sum(r.errors for r in readers),
    }


def run_peer_readers(job: PeerJob) -> dict[str, Any]:
    """Worker entry point (a spawned process): run the readers, return counts and the encoded histogram."""
    return run_worker(_run(job))
