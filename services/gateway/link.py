"""The replica's one broker connection: the out topic into the hub, client writes out to the model.

stomp.py delivers on its receiver thread; every frame crosses to the event
loop with ``call_soon_threadsafe`` and nothing else happens on that thread.

The same connection follows the model's journal stream from ``replay_seconds`` ago, for the hub's
history (replay to clients behind the ring buffer). Entries count in stream order, the next ``txn``
only, as the model reads them: an entry a stale model wrote is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from traitsweb import protocol
from traitsweb.broker import Delivery, Subscription, connect

from .config import GatewaySettings
from .errors import ApiError
from .hub import Hub

__all__ = ["BrokerLink"]

log = logging.getLogger(__name__)

#: session ids per touch report: 1,500 x 35 bytes stays well under protocol.MAX_BODY_BYTES
TOUCH_BATCH = 1500
#: on a cluster, how long the hub waits for out messages that arrive out of order before it resynchronises
REORDER_GRACE = 0.5
#: ... and when it follows the journal, which brings what the out queue skipped (a frozen node still holding
#: it for our old connection): a gap waits this long for it before a snapshot resets the clients behind it
JOURNAL_GRACE = 3.0


class BrokerLink:
    def __init__(self, settings: GatewaySettings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self._loop = loop
        self._durable = len(settings.broker.nodes) > 1
        history = self._history_size(settings)
        self.hub = Hub(buffer_size=settings.buffer_size, on_gap=self.request_snapshot,
                       reorder_grace=(JOURNAL_GRACE if history else REORDER_GRACE) if self._durable else 0.0,
                       reply_cache_count=settings.reply_cache_count, reply_cache_bytes=settings.reply_cache_bytes,
                       snapshot_max_bytes=settings.snapshot_max_bytes,
                       history_size=history, replay_wait=settings.replay_wait)
        self.client = connect(
            settings.broker, name=settings.replica, heartbeat_ms=settings.heartbeat_ms, on_state=self._on_state
        )
        self._reply_to = f"/temp-queue/snapshot-{uuid.uuid4().hex[:8]}"
        self._last_request = 0.0
        self._served: set[str] = set()
        self.holding: dict[str, int] = {}
        self._touch_task: asyncio.Task[None] | None = None
        self._journal: Subscription | None = None
        #: the newest journal entry taken: a later one with a txn at most this is a stale model's
        self._txn: tuple[str, int] = ("", 0)

    async def __aenter__(self) -> BrokerLink:
        # the out topic and the private messages of every browser session, in seq order through one queue
        stream = protocol.gateway_stream(self.settings.out_destination)
        if self._durable:  # on a cluster: a queue of our own that outlives a node (protocol.durable_out_headers)
            self.client.subscribe(stream, self._on_out_acked, ack="client-individual",
                                  headers=protocol.durable_out_headers(self.settings.replica))
        else:
            self.client.subscribe(stream, self._on_out)
        if self.hub.history_size:
            since = int(time.time() - self.settings.replay_seconds)
            self._journal = self.client.subscribe(
                self.settings.journal_destination, self._on_journal, ack="client",
                headers={"x-stream-offset": f"timestamp={since}", "prefetch-count": "1000"},
            )
        self.client.on_reply(self._reply_to, self._on_snapshot)
        self.client.start()
        self._touch_task = asyncio.create_task(self._touch_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._touch_task is not None:
            self._touch_task.cancel()
        await asyncio.to_thread(self.client.close)

    @staticmethod
    def _history_size(settings: GatewaySettings) -> int:
        """Messages to keep from the journal: none without replay, or on the memory broker (it has no streams)."""
        if settings.replay_seconds <= 0 or settings.broker.scheme == "memory":
            return 0
        return settings.history_size

    @property
    def ready(self) -> bool:
        return self.client.connected.is_set() and self.hub.ready

    def ready_hub(self) -> Hub:
        """The hub, once it holds the model's state; ``503 not_ready`` before."""
        if not self.hub.ready:
            raise ApiError(503, "not_ready", "the gateway has not loaded the model's state yet")
        return self.hub

    # -- broker thread -> loop ---------------------------------------------------------
    def _on_out(self, frame: Delivery) -> None:
        self._loop.call_soon_threadsafe(self.hub.feed, frame.body, frame.headers.get(protocol.MORE) == "true")

    def _on_out_acked(self, frame: Delivery) -> None:
        self._on_out(frame)
        self.client.ack(frame)  # in our hands now: the broker may forget it

    def _on_journal(self, frame: Delivery) -> None:
        self.client.ack(frame)
        offset = frame.headers.get("x-stream-offset", "")
        if self._journal is not None and offset.isdigit():
            # after a reconnect, go on from here rather than from the start time again
            self._journal.headers["x-stream-offset"] = f"offset={int(offset) + 1}"
        try:
            entry = json.loads(frame.body)
            if entry.get("kind") != "txn":
                return
            txn, epoch, messages = int(entry["txn"]), str(entry["epoch"]), entry["messages"]
            if epoch == self._txn[0] and txn <= self._txn[1]:
                return  # a txn already taken: a stale model's entry, or one read again
            self._txn = (epoch, txn)
            pairs = [(int(seq), str(body)) for seq, body in messages]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed journal entry at offset %s", offset)
            return
        if pairs:
            self._loop.call_soon_threadsafe(self.hub.remember, epoch, pairs)

    def _on_snapshot(self, frame: Delivery) -> None:
        self._loop.call_soon_threadsafe(self.hub.load_snapshot, frame.body)

    def _on_state(self, state: str) -> None:
        # a plain topic queue is new: what was sent meanwhile is lost to us. A durable one still holds it
        # and delivers it now; a snapshot answered before that backlog would jump past it and reset our
        # clients, so then only a gap (or not holding the state yet) asks for one
        if state == "connected" and not (self._durable and self.hub.ready):
            self._loop.call_soon_threadsafe(self.request_snapshot, True)

    # -- requests ---------------------------------------------------------------------------
    def request_snapshot(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_request < 1.0:
            return
        self._last_request = now
        headers = {**protocol.SEND_HEADERS, "reply-to": self._reply_to}
        if not self.client.publish(self.settings.control_destination, '{"type":"snapshot_request"}', headers=headers):
            log.info("snapshot request not sent: broker unavailable")

    # -- activity reports for the model's idle logout --------------------------------------------
    def served(self, session: str) -> None:
        self._served.add(session)

    async def _touch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.touch_interval)
            ids = self._served | set(self.holding)
            self._served = set()
            ordered = sorted(ids)
            for start in range(0, len(ordered), TOUCH_BATCH):  # each report stays under the body limit
                batch = ordered[start : start + TOUCH_BATCH]
                body = protocol.encode({"type": "touch", "ids": batch, "replica": self.settings.replica})
                self.client.publish(self.settings.control_destination, body, headers=protocol.SEND_HEADERS)
