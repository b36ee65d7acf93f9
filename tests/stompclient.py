"""A test peer on the real broker: sends like a gateway, collects the out topic in order.

Waits are on messages (a Condition), never on sleeps.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from traitsweb import protocol
from traitsweb.broker import connect
from traitsweb.settings import parse_broker_url

Predicate = Callable[[dict[str, Any]], bool]


class Peer:
    """Connects as ``url``'s user, subscribes to ``streams``, records every message in order.

    By default it reads what its user's service reads: a gateway user the out topic with the private
    messages of browser sessions (:func:`protocol.gateway_stream`; a placeholder right after the message
    it stands for is not recorded), anyone else the out topic.
    """

    def __init__(self, url: str, *, name: str = "test-peer", streams: tuple[str, ...] | None = None) -> None:
        broker = parse_broker_url(url)
        self.client = connect(broker, name=name, heartbeat_ms=5000)
        gateway = (protocol.gateway_stream(protocol.OUT),)
        self._streams = streams or (gateway if broker.user == "gateway" else (protocol.OUT,))
        self.messages: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reply_queue = f"/temp-queue/{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Peer:
        self.client.start()
        for stream in self._streams:
            self.client.subscribe(stream, self._on_out)
        self.client.on_reply(self._reply_queue, self._on_reply)
        assert self.client.wait_connected(30), "peer could not connect to the broker"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _on_out(self, frame: Any) -> None:
        message = json.loads(frame.body)
        with self._cond:
            last = self.messages[-1] if self.messages else {}
            if message["type"] == protocol.PLACEHOLDER and last.get("seq") == message["seq"]:
                return
            self.messages.append(message)
            self._cond.notify_all()

    def _on_reply(self, frame: Any) -> None:
        with self._cond:
            self.replies.append(json.loads(frame.body))
            self._cond.notify_all()

    # -- sending --------------------------------------------------------------------
    def control(self, message: dict[str, Any]) -> None:
        self.client.send(protocol.CONTROL, protocol.encode(message), headers=protocol.SEND_HEADERS)

    def login(self, name: str, session: str | None = None) -> str:
        session = session or uuid.uuid4().hex
        self.control({"type": "login", "id": session, "name": name, "msg_id": uuid.uuid4().hex})
        return session

    def write(self, session: str, trait: str, value: Any, msg_id: str | None = None) -> str:
        msg_id = msg_id or uuid.uuid4().hex
        body = protocol.encode({"id": session, "trait": trait, "value": value, "msg_id": msg_id})
        self.client.send(protocol.INPUT, body, headers=protocol.SEND_HEADERS)
        return msg_id

    def send_raw(self, destination: str, body: str) -> None:
        self.client.send(destination, body, headers=protocol.SEND_HEADERS)

    def snapshot(self, timeout: float = 30.0) -> dict[str, Any]:
        with self._cond:
            seen = len(self.replies)
        self.client.send(
            protocol.CONTROL,
            protocol.encode({"type": "snapshot_request"}),
            headers={**protocol.SEND_HEADERS, "reply-to": self._reply_queue},
        )
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.replies) > seen, timeout), "no snapshot reply"
            return self.replies[-1]

    # -- waiting --------------------------------------------------------------------
    def wait_for(self, predicate: Predicate, timeout: float = 30.0) -> dict[str, Any]:
        """The first recorded out message (old or new) matching ``predicate``."""
        found = self.find(predicate, timeout)
        if found is None:
            with self._cond:
                raise AssertionError(f"no matching out message within {timeout} s; got {self.messages[-5:]}")
        return found

    def find(self, predicate: Predicate, timeout: float = 0.0) -> dict[str, Any] | None:
        """Like :meth:`wait_for`, but None when nothing matched within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def changes(self, trait: str) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.messages if m["type"] == "trait_change" and m["trait"] == trait]
