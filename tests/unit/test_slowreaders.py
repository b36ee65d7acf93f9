"""Pins what services/gateway/slowreaders.py takes from uvicorn: its HTTP and WebSocket protocol classes and
the asyncio hooks they implement. A uvicorn update that moves or renames them fails here, loudly."""

from __future__ import annotations

import asyncio

import uvicorn

from services.gateway import slowreaders


def test_the_guarded_classes_are_uvicorns_own_with_the_asyncio_hooks() -> None:
    http, ws = slowreaders.bounded(1 << 20, 10.0)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    for guarded, base in ((http, HttpToolsProtocol), (ws, WebSocketsSansIOProtocol)):
        assert issubclass(guarded, base) and issubclass(base, asyncio.Protocol)
        for hook in ("connection_made", "connection_lost", "pause_writing", "resume_writing"):
            assert hook in vars(base) or any(hook in vars(k) for k in base.__mro__[1:-1]), (base, hook)
        assert guarded.max_buffer == 1 << 20 and guarded.stall == 10.0


def test_uvicorn_takes_the_classes_as_they_are() -> None:
    http, ws = slowreaders.bounded(1 << 20, 10.0)
    config = uvicorn.Config(lambda scope, receive, send: None, http=http, ws=ws, ws_max_size=4096)
    config.load()
    assert config.http_protocol_class is http and config.ws_protocol_class is ws
