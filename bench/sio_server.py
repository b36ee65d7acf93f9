"""The python-socketio peer's replica: ``uvicorn bench.sio_server:app`` (``BENCH_AMQP_URL``).

python-socketio 5 with its RabbitMQ manager (``AsyncAioPikaManager``): a client's ``send`` event is
broadcast to every client of every replica as a ``chat`` event, through the manager's exchange on the
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
    await sio.emit("chat", data)


@sio.on("connect")
async def connect(sid: str, environ: dict[str, Any]) -> None:
    return None


app = socketio.ASGIApp(sio, socketio_path="socket.io")
