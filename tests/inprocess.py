"""The model service in-process, for tests of what a model does: frames handed in, published bodies recorded.

:class:`RecordingClient` stands in for the one thing the model service needs
of its broker client (subscribe, publish, ack); the broker itself is tested
on the real stack.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.model.config import ModelSettings
from services.model.service import ModelService
from services.model.store import Store
from traitsweb import protocol
from traitsweb.bridge import SharedModel
from traitsweb.state import apply_change


class RecordingClient:
    generation = 1

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.acked: list[Any] = []
        self._cond = threading.Condition()

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        pass

    def publish(self, destination: str, body: str, *, headers: dict[str, str] | None = None) -> bool:
        with self._cond:
            self.published.append(json.loads(body))
            self._cond.notify_all()
        return True

    def ack(self, frame: Any) -> None:
        self.acked.append(frame)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The first published message matching ``predicate``, waiting for it if need be."""

        def match() -> dict[str, Any] | None:
            return next((m for m in self.published if predicate(m)), None)

        with self._cond:
            assert self._cond.wait_for(lambda: match() is not None, timeout), f"nothing matching: {self.published[-3:]}"
            found = match()
            assert found is not None
            return found


class Follower:
    """The test's own copy of the state, kept at ``(epoch, seq)`` from snapshots and out messages.

    :meth:`feed` says ``"applied"`` (the next message), ``"stale"`` (already covered) or ``"gap"``
    (another epoch, or a message is missing: nothing applied).
    """

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.seq = -1
        self.state: dict[str, Any] = {}

    def load(self, snapshot: dict[str, Any]) -> None:
        self.epoch, self.seq, self.state = snapshot["epoch"], snapshot["seq"], json.loads(json.dumps(snapshot["state"]))

    def feed(self, message: dict[str, Any]) -> str:
        if message["epoch"] != self.epoch:
            return "gap"
        if message["seq"] <= self.seq:
            return "stale"
        if message["seq"] != self.seq + 1:
            return "gap"
        if message["type"] == "trait_change":
            apply_change(self.state, message)
        self.seq = message["seq"]
        return "applied"


class Frame:
    """An input or control frame as the broker client hands it to the service."""

    generation = 1

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = protocol.encode(body)
        self.headers = {"message-id": uuid.uuid4().hex, protocol.USER_ID: "gateway"}  # as a gateway sends it


class Served:
    """A model service on ``path`` with a recording client; ``mirror`` follows what it published."""

    def __init__(self, model: SharedModel, path: Path) -> None:
        self.store = Store(path / "model.sqlite3").__enter__()
        self.service = ModelService(ModelSettings(data_dir=path), model, self.store)
        self.client = RecordingClient()
        self.service.attach(self.client)  # type: ignore[arg-type]
        self.mirror = Follower()
        snapshot = protocol.out_message("snapshot", self.service.epoch, self.service.seq,
                                        state=self.service.bridge.state())
        self.mirror.load(snapshot)
        self._followed = 0

    @property
    def model(self) -> Any:
        return self.service.bridge.model

    def close(self) -> None:
        self.store.__exit__()

    def login(self, name: str) -> str:
        session = uuid.uuid4().hex
        self.service._on_frame("control", Frame({"type": "login", "id": session, "name": name,
                                                 "msg_id": uuid.uuid4().hex}))
        return session

    def write(self, session: str, trait: str, value: Any) -> str:
        msg_id = uuid.uuid4().hex
        self.service._on_frame("input", Frame({"id": session, "trait": trait, "value": value, "msg_id": msg_id}))
        return msg_id

    def follow(self) -> list[dict[str, Any]]:
        """Apply what was published since the last call; every message must be the next one."""
        with self.client._cond:
            new = self.client.published[self._followed:]
            self._followed = len(self.client.published)
        for message in new:
            assert self.mirror.feed(message) == "applied", message
        return new
