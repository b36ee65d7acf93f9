"""The python-socketio peer's replica: ``uvicorn bench.sio_server:app`` (``BENCH_AMQP_URL``).

python-socketio 5 with its RabbitMQ manager (``AsyncAioPikaManager``): a client's ``send`` event is
broadcast to every other client of every replica as a ``chat`` event, through the manager's exchange on the
peer's own RabbitMQ node, the way a chat on python-socketio is built.
"""

from __future__ import annotations

import os
from typing import Any

import socketio

__all__ = ["app"]

manager = socketio.AsyncAioPikaManager(os.environ["BENCH_AMQP_URL"], channel="bench-sio")
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*")


@sio.on("send")
async def send(sid: str, data: Any) -> None:
    # to every other client: the load generator's sender is not one of the readers
    await sio.emit("chat", data, skip_sid=sid)


#: Socket.IO clients connected to this replica, answered at ``GET /bench/clients`` (the load generator
#: starts sending once every reader is connected: a Socket.IO client gets no event sent before it joined)
clients = 0


@sio.on("connect")
async def connect(sid: str, environ: dict[str, Any], *args: Any) -> None:
    global clients
    clients += 1


@sio.on("disconnect")
async def disconnect(sid: str, *args: Any) -> None:
    global clients
    clients -= 1


async def _count(scope: dict[str, Any], receive: Any, send: Any) -> None:
    status, body = (200, str(clients).encode()) if scope.get("path") == "/bench/clients" else (404, b"")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _warm() -> None:
    """One emit at start-up opens the manager's publisher connection. python-socketio 5.18's
    ``AsyncAioPikaManager._publish`` sets ``publisher_connection`` before its exchange exists, so the first
    emits of concurrent handlers fail ("Cannot publish to rabbitmq... giving up") and are dropped; a deployed
    replica has long passed that when it is measured."""
    await sio.emit("warm", {})


app = socketio.ASGIApp(sio, other_asgi_app=_count, socketio_path="socket.io", on_startup=_warm)
