"""The replica's one broker connection: the out topic into the hub, client writes out to the model.

stomp.py delivers on its receiver thread; every frame crosses to the event
loop with ``call_soon_threadsafe`` and nothing else happens on that thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from traitsweb import protocol
from traitsweb.broker import Delivery, connect

from .config import GatewaySettings
from .errors import ApiError
from .hub import Hub

__all__ = ["BrokerLink"]

log = logging.getLogger(__name__)

#: session ids per touch report: 1,500 x 35 bytes stays well under protocol.MAX_BODY_BYTES
TOUCH_BATCH = 1500


class BrokerLink:
    def __init__(self, settings: GatewaySettings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self._loop = loop
        self.hub = Hub(buffer_size=settings.buffer_size, on_gap=self.request_snapshot,
                       reply_cache_count=settings.reply_cache_count, reply_cache_bytes=settings.reply_cache_bytes,
                       snapshot_max_bytes=settings.snapshot_max_bytes)
        self.client = connect(
            settings.broker, name=settings.replica, heartbeat_ms=settings.heartbeat_ms, on_state=self._on_state
        )
        self._reply_to = f"/temp-queue/snapshot-{uuid.uuid4().hex[:8]}"
        self._last_request = 0.0
        self._served: set[str] = set()
        self.holding: dict[str, int] = {}
        self._touch_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BrokerLink:
        self.client.subscribe(self.settings.out_destination, self._on_out)
        self.client.on_reply(self._reply_to, self._on_snapshot)
        self.client.start()
        self._touch_task = asyncio.create_task(self._touch_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._touch_task is not None:
            self._touch_task.cancel()
        await asyncio.to_thread(self.client.close)

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
        self._loop.call_soon_threadsafe(self.hub.feed, frame.body)

    def _on_snapshot(self, frame: Delivery) -> None:
        self._loop.call_soon_threadsafe(self.hub.load_snapshot, frame.body)

    def _on_state(self, state: str) -> None:
        if state == "connected":  # the topic queue is new: what was sent meanwhile is lost to us
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
