"""The broker floor's echo service: ``python -m bench.echo STOMP_URL``, plain stomp.py.

Consumes :data:`ECHO` and sends every body straight back to the frame's
``reply-to``. The floor uses the stack's ``desktop`` user, whose permissions
already allow a ``stomp-subscription-*`` queue, so production permissions stay as they are.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from bench.plainstomp import QUEUE_HEADERS, connect, subscribe

__all__ = ["ECHO", "main"]

#: a durable queue declared like the model's input queue (same headers), so the
#: floor's hop costs what the gateway's hop to the model costs in the broker
ECHO = "/queue/stomp-subscription-bench-echo"


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
    subscribe(conn, ECHO, "echo", headers=QUEUE_HEADERS)
    print("ready", flush=True)
    done.wait()
    conn.disconnect()


if __name__ == "__main__":
    main()
