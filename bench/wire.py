"""Lean load-generator clients: HTTP/1.1, SSE and WebSocket parsed by hand on ``asyncio.Protocol``.

The load generator shares the 2-core machine with the system it measures, so
it must cost far less per delivery than the gateway does. aiohttp costs ~40 us
of CPU per delivered message (a coroutine, a response object and its parsing
per request); these protocols parse replies in ``data_received`` and call back
with the decoded JSON, with no task or timer per message. They speak just
what the gateway and the peers speak: keep-alive with ``Content-Length`` or chunked replies,
chunked or raw ``text/event-stream``, and unmasked server WebSocket frames (RFC 6455).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

__all__ = ["Endpoint", "PollConnection", "SseConnection", "WsConnection", "PostConnection", "WireError", "read_session"]

OnPayload = Callable[[Any, float], None]
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WireError(Exception):
    """The server said something these clients do not speak (a bug to fix, not a load effect)."""


class Endpoint:
    """Where and as whom: ``base`` like ``http://127.0.0.1:8000``, a bearer token and an Origin."""

    def __init__(self, base: str, token: str, origin: str, local_address: str | None = None) -> None:
        url = urlsplit(base)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.authority = url.netloc
        self.token = token
        self.origin = origin
        self.local_address = local_address

    def request(self, method: str, path: str, query: dict[str, str] | None = None, *,
                extra: dict[str, str] | None = None, body: bytes = b"") -> bytes:
        target = f"{path}?{urlencode(query)}" if query else path
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.authority}", f"Origin: {self.origin}"]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        for key, value in (extra or {}).items():
            lines.append(f"{key}: {value}")
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def connect(self, factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        local = (self.local_address, 0) if self.local_address else None
        await loop.create_connection(factory, self.host, self.port, local_addr=local)


class _Counted(Protocol):
    errors: int


async def read_session(endpoint: Endpoint, conn: _Connection, reader: _Counted, deadline: float, *,
                       failed: Callable[[], bool], close_at_deadline: bool = True) -> None:
    """One connection of a reader's, from connect to close; a reader loops over these until it is done.

    A refused connect, a connection that outlives ``deadline`` by 10 s (a hung client: closed) and one that
    ``failed()`` once closed each count an error in ``reader.errors``; a failed one waits a moment before the
    reader's next, as a browser backs off. ``close_at_deadline``: closed at ``deadline`` if still open (a
    long-poll that stops asking needs no such timer).
    """
    try:
        await endpoint.connect(lambda: conn)
    except OSError:
        reader.errors += 1
        await asyncio.sleep(0.2)
        return
    loop = asyncio.get_running_loop()
    stop = loop.call_later(max(0.0, deadline - time.monotonic()), conn.close) if close_at_deadline else None
    try:
        await asyncio.wait_for(asyncio.shield(conn.closed), max(1.0, deadline + 10 - time.monotonic()))
    except TimeoutError:
        reader.errors += 1
        conn.close(failed=True)
    if stop is not None:
        stop.cancel()
    if failed():
        reader.errors += 1
        await asyncio.sleep(0.2)


def _head(buffer: bytearray) -> tuple[int, dict[bytes, bytes], int] | None:
    """Status, headers (lower-case names) and head length of a response at the start of ``buffer``."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > 65536:
            raise WireError("response head over 64 KiB")
        return None
    lines = bytes(buffer[:end]).split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise WireError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, end + 4


def _dechunk_body(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A whole chunked body starting at ``buffer[start]``: its bytes and where it ends, or None if incomplete."""
    parts = []
    at = start
    while True:
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return None
        size = int(bytes(buffer[at:end]).split(b";")[0], 16)
        if size == 0:
            if len(buffer) < end + 4:
                return None
            return b"".join(parts), end + 4  # no trailers: the last chunk's CRLF, then the empty line
        if len(buffer) < end + 2 + size + 2:
            return None
        parts.append(bytes(buffer[end + 2:end + 2 + size]))
        at = end + 2 + size + 2


class _Connection(asyncio.Protocol):
    """A connection whose end the owner awaits (``closed``); ``failed`` says whether it ended in error."""

    def __init__(self) -> None:
        self.transport: Any = None  # an asyncio.Transport (uvloop's are not its subclasses)
        self.buffer = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self, *, failed: bool = False) -> None:
        self.failed = self.failed or failed
        if self.transport is not None:
            self.transport.close()


class PollConnection(_Connection):
    """Keep-alive long-polls, one after the other: ``next_request()`` builds each (None: stop)."""

    def __init__(self, next_request: Callable[[], bytes | None], on_reply: Callable[[int, bytes, float], None]) -> None:
        super().__init__()
        self._next_request = next_request
        self._on_reply = on_reply
        self._head: tuple[int, dict[bytes, bytes], int] | None = None
        self.in_flight = False
        #: the last reply's headers (lower-case names), set before ``on_reply`` is called
        self.reply_headers: dict[bytes, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.send_next()

    def send_next(self) -> None:
        request = self._next_request()
        if request is None:
            self.close()
            return
        assert self.transport is not None
        self.in_flight = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            if self._head is None:
                self._head = _head(buffer)
                if self._head is None:
                    return
            status, headers, start = self._head
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                whole = _dechunk_body(buffer, start)
                if whole is None:
                    return
                body, end = whole
            else:
                length = int(headers.get(b"content-length", b"0"))
                if len(buffer) < start + length:
                    return
                body, end = bytes(buffer[start:start + length]), start + length
            del buffer[:end]
            self._head = None
            self.reply_headers = headers
            self.in_flight = False
            keep = headers.get(b"connection", b"").lower() != b"close"
            self._on_reply(status, body, time.monotonic())
            if not keep:
                self.close()
                return
            if not buffer:
                return


class PostConnection(PollConnection):
    """Keep-alive POSTs: ``post()`` one request at a time; the reply's status goes to ``on_reply``."""

    def __init__(self, on_reply: Callable[[int, bytes, float], None]) -> None:
        super().__init__(lambda: None, on_reply)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _Connection.connection_made(self, transport)
        self.ready.set_result(None)

    def post(self, request: bytes) -> None:
        assert self.transport is not None
        self.in_flight = True
        self.transport.write(request)


class _Stream(_Connection):
    """One request whose response must start with status ``expect``; what follows goes to ``_received``."""

    expect = 200

    def __init__(self, request: bytes, on_payload: OnPayload, on_status: Callable[[int], None]) -> None:
        super().__init__()
        self._request = request
        self._on_payload = on_payload
        self._on_status = on_status
        self._started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self._started:
            head = _head(self.buffer)
            if head is None:
                return
            status, headers, start = head
            del self.buffer[:start]
            self._on_status(status)
            if status != self.expect:
                self.close(failed=True)
                return
            self._check(headers)
            self._started = True
        self._received()

    def _check(self, headers: dict[bytes, bytes]) -> None:
        raise NotImplementedError

    def _received(self) -> None:
        raise NotImplementedError


class SseConnection(_Stream):
    """One ``text/event-stream`` request; every event's data, JSON-decoded, goes to ``on_payload``."""

    def __init__(self, request: bytes, on_payload: OnPayload, on_status: Callable[[int], None]) -> None:
        super().__init__(request, on_payload, on_status)
        self._chunk_left = -1
        self._chunked = True
        self._events = bytearray()

    def _check(self, headers: dict[bytes, bytes]) -> None:
        # chunked (uvicorn) or the raw bytes until the connection closes (nginx's Nchan)
        self._chunked = headers.get(b"transfer-encoding", b"").lower() == b"chunked"

    def _received(self) -> None:
        if self._chunked:
            self._dechunk()
        else:
            self._events += self.buffer
            self.buffer.clear()
        self._dispatch()

    def _dechunk(self) -> None:
        """Move chunk data from the socket buffer to the event buffer (``_chunk_left``: -1 size line,
        0 the CRLF after a chunk, > 0 data still to come)."""
        buffer = self.buffer
        while True:
            if self._chunk_left == -1:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buffer[:end]).split(b";")[0], 16)
                del buffer[:end + 2]
                if size == 0:  # the stream ended
                    self.close()
                    return
                self._chunk_left = size
            elif self._chunk_left == 0:
                if len(buffer) < 2:
                    return
                del buffer[:2]
                self._chunk_left = -1
            else:
                if not buffer:
                    return
                take = min(self._chunk_left, len(buffer))
                self._events += buffer[:take]
                del buffer[:take]
                self._chunk_left -= take

    def _dispatch(self) -> None:
        events = self._events
        now = time.monotonic()
        while True:
            end = events.find(b"\n\n")
            if end < 0:
                return
            block = bytes(events[:end])
            del events[:end + 2]
            data = [line[5:].lstrip() for line in block.split(b"\n") if line.startswith(b"data:")]
            if data:
                self._on_payload(json.loads(b"\n".join(data)), now)


class WsConnection(_Stream):
    """A WebSocket the client only listens on; every text message, JSON-decoded, goes to ``on_payload``."""

    expect = 101

    def __init__(self, endpoint: Endpoint, path: str, query: dict[str, str], on_payload: OnPayload,
                 on_status: Callable[[int], None], decode: Callable[[bytes], Any] = json.loads) -> None:
        self._decode = decode
        self._key = base64.b64encode(os.urandom(16))
        extra = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": self._key.decode()}
        super().__init__(endpoint.request("GET", path, query, extra=extra), on_payload, on_status)
        self._fragments: list[bytes] = []
        self._close_sent = False

    def _check(self, headers: dict[bytes, bytes]) -> None:
        if headers.get(b"sec-websocket-accept") != base64.b64encode(hashlib.sha1(self._key + _WS_GUID).digest()):
            raise WireError("bad Sec-WebSocket-Accept")

    def _received(self) -> None:
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        now = time.monotonic()
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            if second & 0x80:
                raise WireError("a masked frame from the server")
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset:offset + length])
            del buffer[:offset + length]
            opcode, fin = first & 0x0F, first & 0x80
            if opcode in (0x1, 0x2, 0x0):
                self._fragments.append(payload)
                if fin:
                    message, self._fragments = b"".join(self._fragments), []
                    self._on_payload(self._decode(message), now)
            elif opcode == 0x8:  # close: answer it (unless it answers ours), then the server closes TCP
                if not self._close_sent:
                    self._send(0x8, payload[:2])
                self._close_sent = True
                self.close()
                return
            elif opcode == 0x9:
                self._send(0xA, payload)

    def send_close(self) -> None:
        """Start the closing handshake and leave the TCP connection to the server: a client that closed it
        at once would answer the server's next write with a reset, and the reset discards what the server
        had not read yet (the last messages sent)."""
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self._close_sent = True

    def send_text(self, text: str) -> None:
        """One masked text message (the Engine.IO clients send their packets so)."""
        self._send(0x1, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked client frame."""
        assert self.transport is not None
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (len(payload) // 4 + 1))[:len(payload)], "big")
                  ).to_bytes(len(payload), "big")
        n = len(payload)
        size = bytes([0x80 | n]) if n < 126 else (bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536
                                                 else bytes([0x80 | 127]) + struct.pack("!Q", n))
        self.transport.write(bytes([0x80 | opcode]) + size + mask + masked)

    def close(self, *, failed: bool = False) -> None:
        if self._started and not self._close_sent and self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self._close_sent = True
        super().close(failed=failed)
