"""The baseline's trivial echo service: ``python -m bench.echo`` (TRAITSWEB_BROKER_URL).

Consumes :data:`ECHO` and sends every body straight back to the frame's
``reply-to``. It uses the stack's ``desktop`` user, whose permissions already
allow a ``stomp-subscription-*`` queue, so production permissions stay as they are.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from traitsweb import protocol
from traitsweb.broker import StompClient
from traitsweb.settings import BrokerSettings

__all__ = ["ECHO", "main"]

#: a durable queue declared like the model's input queue (same headers), so the
#: baseline's hop costs what the gateway's hop to the model costs in the broker
ECHO = "/queue/stomp-subscription-bench-echo"


def main() -> None:
    settings = BrokerSettings()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with StompClient(settings.broker, name="bench-echo", heartbeat_ms=settings.heartbeat_ms) as client:

        def echo(frame: Any) -> None:
            reply_to = frame.headers.get("reply-to")
            if reply_to:
                client.publish(reply_to, frame.body, headers={"content-type": "application/json"})

        client.subscribe(ECHO, echo, headers=protocol.QUEUE_HEADERS)
        if not client.wait_connected(30):
            sys.exit("bench.echo: no broker")
        print("ready", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
