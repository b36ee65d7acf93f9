"""The broker floor's echo service: ``python -m bench.echo STOMP_URL``, plain stomp.py.

Consumes :data:`ECHO`, the model's own input queue (by name, as the model consumes it: the broker's
definitions declare it with a single active consumer; as the stack's ``model`` user, on a stack without a
model), and sends every body straight back to the frame's
``reply-to``. The sender is the stack's ``desktop`` user sending through :data:`SEND_TO`, the exchange
every client sends input through: the floor's hops are the product's hops through the broker, with
production permissions as they are.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from bench.plainstomp import connect, subscribe

__all__ = ["ECHO", "SEND_TO", "main"]

#: the model's input queue, and where clients send to it (deploy/rabbitmq/definitions.sh)
ECHO = "/amq/queue/traitsweb.in.quorum"
SEND_TO = "/exchange/traitsweb/in.quorum"


def main() -> None:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    conn: Any = None

    def echo(frame: Any) -> None:
        reply_to = frame.headers.get("reply-to")
        if reply_to:
            conn.send(reply_to, frame.body, headers={"content-type": "application/json"})

    conn = connect(sys.argv[1], echo)
    subscribe(conn, ECHO, "echo")
    print("ready", flush=True)
    done.wait()
    conn.disconnect()


if __name__ == "__main__":
    main()
