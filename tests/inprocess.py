"""The model service in this process on a ``memory://`` broker of its own, for tests of what a model does.

:class:`Served` wires ``ModelService`` to its broker client as ``python -m services.model`` does and plays a
gateway beside it: it sends logins and writes to the model's queues, each returning once the model has
handled it, records what the model publishes and follows it in a :class:`~traitsweb.state.State`. The
service's loop (idle logouts, checkpoints) does not run: tests drive the model's own changes through a
:class:`~traitsweb.background.Scheduler` on ``service.apply_background``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from services.model.config import ModelSettings
from services.model.service import ModelService
from services.model.store import Store
from traitsweb import protocol
from traitsweb.bridge import SharedModel
from traitsweb.broker import Delivery, connect
from traitsweb.memory import memory_broker
from traitsweb.settings import parse_broker_url
from traitsweb.state import Outcome, State

__all__ = ["Served"]

#: seconds a test waits for the model to handle a frame or for what it published to arrive
TIMEOUT = 10.0


class Served:
    """A model service on ``path``; ``published`` is every out message since it started, ``mirror`` the state
    followed from them (:meth:`follow`)."""

    def __init__(self, model: SharedModel, path: Path, **settings: Any) -> None:
        name = f"served-{uuid.uuid4().hex[:8]}"
        self.settings = ModelSettings(broker_url=f"memory://model@{name}", data_dir=path,  # type: ignore[arg-type]
                                      **settings)
        self._broker = memory_broker(name)
        self._published: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._followed = 0
        with contextlib.ExitStack() as stack:
            self.store = stack.enter_context(Store(path / "model.sqlite3"))
            self.service = stack.enter_context(ModelService(self.settings, model, self.store))
            self._gateway = stack.enter_context(connect(parse_broker_url(f"memory://gateway@{name}"), name="gateway"))
            # as a gateway reads: the out topic and browser sessions' private messages, through one subscription
            self._gateway.subscribe(protocol.gateway_stream(self.settings.out_destination), self._record)
            model_client = stack.enter_context(connect(self.settings.broker, name="model"))
            self.service.attach(model_client)
            assert self._gateway.wait_connected(TIMEOUT) and model_client.wait_connected(TIMEOUT)
            self._closing = stack.pop_all()
        self.mirror = State()
        self.mirror.load(protocol.out_message("snapshot", self.service.epoch, self.service.seq,
                                              state=self.service.bridge.state()))
        self._started_at = self.service.seq

    @property
    def model(self) -> Any:
        return self.service.bridge.model

    def close(self) -> None:
        self._closing.close()

    # -- as a gateway --------------------------------------------------------------------------
    def login(self, name: str, *, wait: bool = True) -> str:
        session = uuid.uuid4().hex
        self._send(self.settings.control_destination,
                   {"type": "login", "id": session, "name": name, "msg_id": uuid.uuid4().hex}, wait=wait)
        return session

    def write(self, session: str, trait: str, value: Any, *, msg_id: str | None = None, wait: bool = True) -> str:
        """Send a write (``wait=False``: return once the broker has it, see :meth:`settle`); its ``msg_id``."""
        msg_id = msg_id or uuid.uuid4().hex
        self._send(self.settings.input_destination, {"id": session, "trait": trait, "value": value, "msg_id": msg_id},
                   wait=wait)
        return msg_id

    def request_snapshot(self, *, wait: bool = True) -> Future[dict[str, Any]]:
        """Ask for a snapshot as a gateway does; the future holds the answer."""
        answer: Future[dict[str, Any]] = Future()
        reply_to = f"/temp-queue/snapshot-{uuid.uuid4().hex[:8]}"
        self._gateway.on_reply(reply_to, lambda delivery: answer.set_result(json.loads(delivery.body)))
        self._gateway.send(self.settings.control_destination, protocol.encode({"type": "snapshot_request"}),
                           headers={**protocol.SEND_HEADERS, "reply-to": reply_to})
        if wait:
            assert self.settle(), "the model did not handle the snapshot request"
        return answer

    def settle(self, timeout: float = TIMEOUT) -> bool:
        """Once the model has acknowledged (or refused) every frame sent to it so far: True; False after
        ``timeout`` s (0: whether it has, now)."""
        return all(self._broker.wait_settled(destination, timeout)
                   for destination in (self.settings.control_destination, self.settings.input_destination))

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        """The frames the model refused to the dead-letter queue (NACK without requeue), oldest first."""
        return [json.loads(body) for _, body in self._broker.dead]

    def _send(self, destination: str, message: dict[str, Any], *, wait: bool = True) -> None:
        """Send as a gateway does; with ``wait``, return once the model has acknowledged (or refused) the frame."""
        self._gateway.send(destination, protocol.encode(message), headers=protocol.SEND_HEADERS)
        if wait:
            assert self._broker.wait_settled(destination, TIMEOUT), f"the model did not handle {message}"

    # -- what the model published ----------------------------------------------------------------
    def _record(self, delivery: Delivery) -> None:
        with self._cond:
            self._published.append(json.loads(delivery.body))
            self._cond.notify_all()

    @property
    def arrived(self) -> list[dict[str, Any]]:
        """The out messages that have arrived so far, without waiting for any."""
        with self._cond:
            return list(self._published)

    @property
    def published(self) -> list[dict[str, Any]]:
        """Every out message published so far, once each one the model has numbered has arrived."""
        with self._cond:
            arrived = self._cond.wait_for(lambda: self._last_seq() >= self.service.seq, TIMEOUT)
            assert arrived, f"published up to seq {self.service.seq}, arrived up to {self._last_seq()}"
            return list(self._published)

    def _last_seq(self) -> int:
        return max((m["seq"] for m in self._published), default=self._started_at)

    def wait_count(self, count: int) -> list[dict[str, Any]]:
        """Every out message published so far, once there are ``count`` (e.g. with some published again)."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self._published) >= count, TIMEOUT), self._published[-3:]
            return list(self._published)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first published message matching ``predicate``, waiting for it if need be."""

        def match() -> dict[str, Any] | None:
            return next((m for m in self._published if predicate(m)), None)

        with self._cond:
            assert self._cond.wait_for(lambda: match() is not None, TIMEOUT), f"nothing matching: {self._published[-3:]}"
            found = match()
            assert found is not None
            return found

    def follow(self) -> list[dict[str, Any]]:
        """Apply what was published since the last call to ``mirror``, as a gateway reads it (a private message,
        then its placeholder); every message must be the next one."""
        new = self.published[self._followed:]
        self._followed += len(new)
        for message in new:
            outcome = self.mirror.apply(message)
            assert outcome is Outcome.APPLIED or (outcome, message["type"]) == (Outcome.STALE, protocol.PLACEHOLDER), message
        return new
