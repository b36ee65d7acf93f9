"""A client that stops reading is dropped once it leaves too much unsent for too long.

Without this, every reader that never reads pins a copy of what it was sent (a reset can be megabytes)
in its transport's buffer for as long as it keeps the connection open. asyncio tells a protocol when
its transport's buffer goes over the high-water mark (``pause_writing``) and back under
(``resume_writing``); :func:`bounded` adds to uvicorn's HTTP and WebSocket protocols a timer that
aborts the connection (with an RST, which frees the kernel's buffer too) when the buffer stays over
``max_buffer`` bytes for ``stall`` seconds. Only those public asyncio hooks are overridden, but the
classes they extend are uvicorn's own (nothing public serves): ``tests/unit/test_slowreaders.py``
fails loudly if uvicorn moves or renames them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["bounded"]

log = logging.getLogger(__name__)


class _StallGuard(asyncio.Protocol):
    max_buffer: int
    stall: float
    _guarded: asyncio.Transport | None = None
    _stall_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._guarded = transport
        transport.set_write_buffer_limits(high=self.max_buffer)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = asyncio.get_running_loop().call_later(self.stall, self._drop)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        super().connection_lost(exc)

    def _drop(self) -> None:
        self._stall_timer = None
        transport = self._guarded
        if transport is None or transport.is_closing():
            return
        log.info("dropped a client that left %d bytes unread for %g s", transport.get_write_buffer_size(), self.stall)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


def bounded(max_buffer: int, stall: float) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """uvicorn's ``http`` and ``ws`` protocol classes with the guard (uvicorn takes classes, not instances)."""
    bounds = {"max_buffer": max_buffer, "stall": stall}
    http = type("BoundedHttpToolsProtocol", (_StallGuard, HttpToolsProtocol), bounds)
    ws = type("BoundedWebSocketsProtocol", (_StallGuard, WebSocketsSansIOProtocol), bounds)
    return http, ws
