"""Plain stomp.py, with no traitsweb code in the path: what the raw broker floor is measured with.

The one change from stomp.py's defaults is ``TCP_NODELAY`` (stomp.py leaves Nagle on, and a small
frame would wait for the peer's delayed ACK, ~40 ms).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import stomp

__all__ = ["connect", "subscribe", "SEND_HEADERS"]

#: a durable queue and persistent messages, as RabbitMQ's STOMP adapter declares and stores the model's input
SEND_HEADERS = {"persistent": "true", "content-type": "application/json"}


class _Listener(stomp.ConnectionListener):
    def __init__(self, on_message: Callable[[Any], None]) -> None:
        self.on_message_cb = on_message
        self.connected = threading.Event()
        self.receipts: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def receipt(self, receipt_id: str) -> threading.Event:
        with self.lock:
            return self.receipts.setdefault(receipt_id, threading.Event())

    def on_receipt(self, frame: Any) -> None:
        self.receipt(frame.headers.get("receipt-id", "")).set()

    def on_connected(self, frame: Any) -> None:
        self.connected.set()

    def on_message(self, frame: Any) -> None:
        self.on_message_cb(frame)


def connect(url: str, on_message: Callable[[Any], None], *, timeout: float = 30) -> stomp.Connection12:
    """A connected ``stomp.Connection12`` to ``stomp://user:password@host:port[/vhost]`` (vhost ``/`` by
    default: stomp.py would send the host name, which RabbitMQ reads as the vhost); every MESSAGE frame goes
    to ``on_message`` (on stomp.py's receiver thread)."""
    parts = urlsplit(url)
    conn = stomp.Connection12([(parts.hostname or "127.0.0.1", parts.port or 61613)], heartbeats=(0, 0),
                              vhost=parts.path.lstrip("/") or "/", try_loopback_connect=False, timeout=timeout)
    listener = _Listener(on_message)
    conn.set_listener("bench", listener)
    conn.connect(parts.username, parts.password, wait=True)
    if not listener.connected.wait(timeout):
        raise RuntimeError(f"no CONNECTED from {parts.hostname}:{parts.port}")
    sock = conn.transport.socket
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    return conn


def subscribe(conn: stomp.Connection12, destination: str, sub_id: str, *, headers: dict[str, str] | None = None,
              timeout: float = 30) -> None:
    """SUBSCRIBE and wait for the broker's receipt (the queue exists and is consumed when this returns)."""
    listener = conn.get_listener("bench")
    receipt = f"subscribe-{sub_id}"
    done = listener.receipt(receipt)
    conn.subscribe(destination, id=sub_id, ack="auto", headers={**(headers or {}), "receipt": receipt})
    if not done.wait(timeout):
        raise RuntimeError(f"no receipt for SUBSCRIBE {destination}")
