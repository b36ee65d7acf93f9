"""The desktop's STOMP side: snapshot, out stream, re-snapshots, and the desktop user's writes.

stomp.py calls back on its receiver thread, so the callbacks here only put
events in an inbox. The owner thread (the window's timer, the headless loop,
a test) calls :meth:`Link.drain`, which applies them to the
:class:`~services.desktop.model.DesktopModel` on *its* thread: traits change,
and plots redraw, only there. Under a flood one drain applies many messages
and the plots redraw once.

Keeping in step: subscribe to the out topic (and, as a participant, to our
session's private key: errors addressed to us), then ask for a snapshot
(``snapshot_request`` with ``reply-to: /temp-queue/...``). Stream messages
that arrive while a snapshot is awaited are held and replayed after it (the
desktop model skips those the snapshot already covers). A gap in ``epoch``/``seq``,
or a reconnect (the topic queue died with the old connection), asks again.

As a participant (the window), the desktop logs in with its own session id,
waits to see itself in ``participants`` before writing (``joined``), keeps
its session alive with ``touch`` and logs in again if it was logged out.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from concurrent.futures import Future
from typing import Any

from traits.api import Any as AnyTrait
from traits.api import Bool, Callable, Float, HasStrictTraits, Instance, Int, Str

from traitsweb import protocol
from traitsweb.broker import BrokerUnavailable

from .config import DesktopSettings
from .model import DesktopModel, Outcome

__all__ = ["Link"]

log = logging.getLogger(__name__)

#: stream messages held while a snapshot is awaited; beyond this, drop them and ask again
_MAX_HELD = 100_000
#: seconds to wait for a snapshot reply before asking again
_SNAPSHOT_RETRY = 10.0


class Link(HasStrictTraits):
    """Feeds a :class:`DesktopModel` from the broker; ``participant=True`` also logs in and writes."""

    model = Instance(DesktopModel, ())
    settings = Instance(DesktopSettings)
    #: log in as a participant (the window) or only watch (headless)
    participant = Bool(False)
    session = Str()
    name = Str()
    clock = Callable(time.monotonic)

    #: the broker connection is up
    connected = Bool(False)
    #: :attr:`model` is in step with the shared model (not waiting for a snapshot)
    synced = Bool(False)
    #: our participant is in :attr:`model`'s participants: writes are welcome now
    joined = Bool(False)
    #: the last error the model addressed to us, or a failed send
    last_error = Str()
    #: stream messages applied and snapshots requested so far
    applied = Int(0)
    snapshot_requests = Int(0)

    _client = AnyTrait()
    _inbox = AnyTrait()
    _reply_to = Str()
    _awaiting = Bool(False)
    _asked_at = Float(0.0)
    _held = AnyTrait()
    _touched_at = Float(0.0)

    def __init__(self, settings: DesktopSettings, **traits: Any) -> None:
        super().__init__(settings=settings, **traits)
        self.session = self.session or settings.desktop_session
        self.name = self.name or settings.desktop_name
        self._inbox = queue.Queue()
        self._held = []
        self._reply_to = f"/temp-queue/desktop-{uuid.uuid4().hex[:12]}"

    # -- wiring (call before the client connects) ------------------------------------
    def attach(self, client: Any) -> None:
        """Subscribe through ``client`` (a StompClient, re-subscribed on every reconnect)."""
        self._client = client
        settings = self.settings
        client.subscribe(settings.out_destination, lambda frame: self._put("out", frame.body))
        client.on_reply(self._reply_to, lambda frame: self._put("reply", frame.body))
        user = settings.broker.user
        if self.participant and user is not None:  # our own private key: the broker lets us bind no other user's
            private = protocol.private_destination(settings.out_destination, settings.private_destination,
                                                   self.session, desktop=user)
            client.subscribe(private, lambda frame: self._put("private", frame.body))

    def on_broker_state(self, state: str) -> None:
        """StompClient's ``on_state`` (its supervisor thread)."""
        self._put("state", state)

    def _put(self, kind: str, payload: Any) -> None:
        self._inbox.put((kind, payload))  # any thread; nothing else happens here

    # -- the owner thread ------------------------------------------------------------
    def drain(self, timeout: float = 0.0, limit: int = 10_000) -> int:
        """Handle queued events on this thread; wait up to ``timeout`` s for the first one."""
        handled = 0
        try:
            event = self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait()
            while True:
                self._handle(*event)
                handled += 1
                if handled >= limit:
                    break
                event = self._inbox.get_nowait()
        except queue.Empty:
            pass
        self.tick()
        return handled

    def tick(self) -> None:
        """Timers: retry a lost snapshot request, touch our session."""
        if not self.connected:
            return
        now = self.clock()
        if self._awaiting and now - self._asked_at > _SNAPSHOT_RETRY:
            log.info("no snapshot reply in %.0f s; asking again", _SNAPSHOT_RETRY)
            self.request_snapshot()
        if self.participant and now - self._touched_at >= self.settings.touch_interval:
            self._touched_at = now
            self._control({"type": "touch", "ids": [self.session], "replica": "desktop"})

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "state":
            self._on_state(payload)
            return
        if kind == "sent":
            self._sent(payload)
            return
        try:
            message = protocol.decode_out(payload)
        except protocol.ProtocolError as exc:
            log.warning("dropped a bad out message: %s", exc)
            return
        if kind == "reply":
            self._on_snapshot(message)
        elif kind == "private":
            self._on_private(message)
        elif self._awaiting:
            self._held.append(message)
            if len(self._held) > _MAX_HELD:
                self._held = []
                self.request_snapshot()
        else:
            self._on_stream(message)

    def _on_state(self, state: str) -> None:
        self.connected = state == "connected"
        if self.connected:
            # our topic subscription is new: whatever was sent meanwhile is gone
            self.request_snapshot()
            if self.participant:
                self.login()
        else:
            self._awaiting = False
            self.synced = False
            self._held = []

    def _on_snapshot(self, message: dict[str, Any]) -> None:
        if message["type"] != "snapshot":
            return
        held, self._held = self._held, []
        self._awaiting = False
        self.synced = True
        if self.model.apply(message) is Outcome.RESET:
            log.info("snapshot loaded: epoch %s seq %d", message["epoch"], message["seq"])
        for item in held:
            if self._awaiting:  # a gap among the held ones: asked again
                self._held.append(item)
            else:
                self._on_stream(item)
        self._update_joined()

    def _on_stream(self, message: dict[str, Any]) -> None:
        outcome = self.model.apply(message)
        if outcome is Outcome.APPLIED:
            self.applied += 1
            if message.get("trait") == "participants":
                self._update_joined()
        elif outcome is Outcome.RESET:
            self._update_joined()
        elif outcome is Outcome.GAP:
            log.info("gap in the out stream (have %s/%d, got %s/%d): re-snapshot",
                     self.model.epoch, self.model.seq, message["epoch"], message["seq"])
            self.request_snapshot()

    def _on_private(self, message: dict[str, Any]) -> None:
        """A message to our session, on its own queue: its ``seq`` came on the out topic as a placeholder (in
        either order), so it changes no state and takes no part in the gap check."""
        if message["type"] == "error" and message.get("to") == self.session:
            self.last_error = f"{message.get('code')}: {message.get('detail')}"

    def _update_joined(self) -> None:
        joined = self.participant and self.session in self.model.participants
        if self.joined and not joined and self.connected:
            log.info("our session was logged out; logging in again")
            self.login()
        self.joined = joined

    # -- sending ----------------------------------------------------------------------
    def request_snapshot(self) -> None:
        self._awaiting = True
        self.synced = False
        self._asked_at = self.clock()
        self.snapshot_requests += 1
        self._send(
            self.settings.control_destination,
            {"type": "snapshot_request"},
            {**protocol.SEND_HEADERS, "reply-to": self._reply_to},
        )

    def login(self) -> None:
        self._touched_at = self.clock()
        self._control({"type": "login", "id": self.session, "name": self.name, "msg_id": uuid.uuid4().hex})

    def logout(self, timeout: float = 2.0) -> None:
        """Leave the chat, waiting briefly for the broker to take it (on shutdown)."""
        if self._client is None or not self.connected:
            return
        body = protocol.encode({"type": "logout", "id": self.session, "reason": "logout"})
        try:
            self._client.send(self.settings.control_destination, body, headers=protocol.SEND_HEADERS, timeout=timeout)
        except BrokerUnavailable as exc:
            log.info("logout not sent: %s", exc)

    def post(self, text: str) -> bool:
        """Post a chat message as the desktop user; False (and ``last_error``) if not possible now."""
        return self.write("entry_field", text)

    def rate(self, value: int) -> bool:
        """Rate our connection (1..5) like a browser does."""
        return self.write("rating_selector", value)

    def write(self, trait: str, value: Any) -> bool:
        if not self.joined:
            self.last_error = "not joined yet: waiting for the model to show our login"
            return False
        schema = self.model.writable.get(trait)
        problem = protocol.check_value(schema, value) if schema else None
        if problem:
            self.last_error = f"{trait} {problem}"
            return False
        message = {"id": self.session, "trait": trait, "value": value, "msg_id": uuid.uuid4().hex}
        self._send(self.settings.input_destination, message, protocol.SEND_HEADERS)
        return True

    def _control(self, message: dict[str, Any]) -> None:
        self._send(self.settings.control_destination, message, protocol.SEND_HEADERS)

    def _send(self, destination: str, message: dict[str, Any], headers: dict[str, str]) -> None:
        if self._client is None:
            return
        future: Future[None] = self._client.send_async(destination, protocol.encode(message), headers=headers)
        future.add_done_callback(lambda f: self._put("sent", f.exception()) if f.exception() else None)

    def _sent(self, error: BaseException | None) -> None:
        if error is not None:
            self.last_error = f"not sent: {error}"
