"""One write per connection per event-loop turn: uvicorn's HTTP protocol with coalesced writes.

uvicorn writes a response's head and its body with two ``transport.write``
calls, i.e. two system calls and two TCP segments for every long-poll reply.
:class:`CoalescingHttpToolsProtocol` gives uvicorn a transport that collects
the writes made during one turn of the event loop and sends them together at
the end of the turn, so a reply is one ``send`` and one segment. Nothing waits
longer than the turn it was written in; ``close`` sends what is pending first.

The transport also bounds what a connection may leave unsent: a client that
stops reading (on an SSE stream or a WebSocket) would otherwise pin its own
copy of the reply it has not read, a full reset included, for as long as it
likes. A connection whose unsent data is still over ``max_buffer`` bytes
``stall`` seconds after it went over is aborted, which frees it at once. The
grace lets a reader that reads take a reply bigger than the bound (a reset),
which is one write and always over it for a moment.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]

log = logging.getLogger(__name__)

#: the default bound on a connection's unsent bytes, and how long (seconds) it may stay over it
MAX_BUFFER = 1024 * 1024
STALL = 10.0


class CoalescingTransport:
    """Delegates to ``transport``; writes of one loop turn are joined and written at its end."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, *,
                 max_buffer: int = MAX_BUFFER, stall: float = STALL) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._max_buffer = max_buffer
        self._stall = stall
        self._stall_check: asyncio.TimerHandle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        transport = self._transport
        if not transport.is_closing():
            transport.write(data)
            if self._stall_check is None and transport.get_write_buffer_size() > self._max_buffer:
                self._stall_check = self._loop.call_later(self._stall, self._drop_if_stalled)

    def _drop_if_stalled(self) -> None:
        self._stall_check = None
        unsent = self._transport.get_write_buffer_size()
        if unsent > self._max_buffer and not self._transport.is_closing():
            log.info("dropped a client that left %d bytes unread for %g s", unsent, self._stall)
            sock = self._transport.get_extra_info("socket")
            if sock is not None:  # a reset, not a FIN queued behind data that will never be read
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._pending)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        if self._stall_check is not None:
            self._stall_check.cancel()
            self._stall_check = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport` (WebSockets upgraded from it too)."""

    #: a connection's unsent bytes, and for how long it may stay over them (:meth:`bounded` sets others)
    max_buffer = MAX_BUFFER
    stall = STALL

    @classmethod
    def bounded(cls, max_buffer: int, stall: float) -> type[CoalescingHttpToolsProtocol]:
        """This protocol with other bounds on unsent bytes (uvicorn takes a class, not an instance)."""
        return type(cls.__name__, (cls,), {"max_buffer": max_buffer, "stall": stall})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped = CoalescingTransport(transport, self.loop, max_buffer=self.max_buffer, stall=self.stall)
        super().connection_made(wrapped)  # type: ignore[arg-type]
