"""The desktop's mirror, link and plot data without a broker or a GUI, on real protocol messages.

The messages come from the real model (``services.model.chat`` through
``traitsweb.bridge``), numbered as the model service numbers them.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from services.desktop.config import DesktopSettings
from services.desktop.link import Link
from services.desktop.mirror import Outcome, StateMirror
from services.desktop.plotdata import ChatPlotData
from services.model.chat import Chat
from traitsweb import protocol
from traitsweb.bridge import Bridge

ALICE, BOB, ME = "a" * 32, "b" * 32, "d" * 32


class Model:
    """The real chat model and bridge, emitting numbered out messages like the model service."""

    def __init__(self, epoch: str = "epoch-1") -> None:
        self.epoch = epoch
        self.seq = 0
        self.out: list[dict[str, Any]] = []
        self.chat = Chat(clock=lambda: 1000.0 + self.seq)
        self.bridge = Bridge(self.chat, self._emit)

    def _emit(self, change: dict[str, Any]) -> None:
        self.seq += 1
        self.out.append(protocol.out_message(change.pop("type"), self.epoch, self.seq, **change))

    def snapshot(self) -> dict[str, Any]:
        return protocol.out_message("snapshot", self.epoch, self.seq, state=self.bridge.state(),
                                    schema=self.bridge.schema)

    def take(self) -> list[dict[str, Any]]:
        out, self.out = self.out, []
        return json.loads(protocol.encode(out))  # exactly what travels on the wire


def _traits_match_state(mirror: StateMirror) -> None:
    for name in ("messages", "connection_ratings", "participants", "average_rating"):
        assert getattr(mirror, name) == mirror.state[name], name


def _same_state(mirror: StateMirror, model: Model) -> None:
    state = model.bridge.state()
    assert mirror.messages == state["messages"]
    assert mirror.connection_ratings == state["connection_ratings"]
    assert mirror.participants == state["participants"]
    assert mirror.average_rating == state["average_rating"]
    assert mirror.state == state


def test_snapshot_then_stream_keeps_the_mirror_equal_to_the_model() -> None:
    model = Model()
    model.bridge.login(ALICE, "alice")
    model.bridge.write(ALICE, "entry_field", "before the desktop came")
    model.take()
    mirror = StateMirror()
    item_events: list[Any] = []
    mirror.observe(item_events.append, "messages:items")

    assert mirror.apply(model.snapshot()) is Outcome.RESET
    assert mirror.ready and mirror.snapshots == 1 and mirror.seq == model.seq
    _same_state(mirror, model)

    model.bridge.login(BOB, "bob")
    model.bridge.write(BOB, "entry_field", "hi alice")
    model.bridge.write(BOB, "rating_selector", 4)
    model.bridge.write(ALICE, "rating_selector", 2)
    model.bridge.logout(ALICE)
    for message in model.take():
        assert mirror.apply(message) is Outcome.APPLIED
        _traits_match_state(mirror)
    _same_state(mirror, model)
    # one message appended arrived as one item change, not a new list
    assert len(item_events) == 1 and item_events[0].added[0]["text"] == "hi alice"
    assert mirror.seq == model.seq and not mirror.stale


def test_old_messages_are_stale_and_a_missing_one_is_a_gap() -> None:
    model = Model()
    model.bridge.login(ALICE, "alice")
    early = model.take()
    mirror = StateMirror()
    mirror.apply(model.snapshot())
    assert all(mirror.apply(m) is Outcome.STALE for m in early)

    model.bridge.write(ALICE, "entry_field", "one")
    model.bridge.write(ALICE, "entry_field", "two")
    first, second = model.take()
    assert mirror.apply(second) is Outcome.GAP
    assert mirror.stale and len(mirror.messages) == 0
    # the re-snapshot brings it back in step
    assert mirror.apply(model.snapshot()) is Outcome.RESET
    assert not mirror.stale and mirror.snapshots == 2
    _same_state(mirror, model)


def test_a_new_epoch_is_a_gap() -> None:
    model = Model()
    mirror = StateMirror()
    mirror.apply(model.snapshot())
    other = Model(epoch="epoch-2")
    other.bridge.login(BOB, "bob")
    assert mirror.apply(other.take()[0]) is Outcome.GAP


class RecordingClient:
    """The part of ``StompClient`` a Link uses, recording what it sends (unit tests only)."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Any] = {}
        self.replies: dict[str, Any] = {}
        self.sent: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def subscribe(self, destination: str, callback: Any, **options: Any) -> None:
        self.subscriptions[destination] = callback

    def on_reply(self, destination: str, callback: Any) -> None:
        self.replies[destination] = callback

    def send_async(self, destination: str, body: str, *, headers: dict[str, str]) -> Future[None]:
        self.sent.append((destination, json.loads(body), headers))
        future: Future[None] = Future()
        future.set_result(None)
        return future

    def deliver(self, message: dict[str, Any]) -> None:
        self.subscriptions[protocol.OUT](SimpleNamespace(body=protocol.encode(message)))

    def reply(self, message: dict[str, Any]) -> None:
        (callback,) = self.replies.values()
        callback(SimpleNamespace(body=protocol.encode(message)))

    def kinds(self) -> list[str]:
        return [body.get("type", body.get("trait", "?")) for _, body, _ in self.sent]


@pytest.fixture
def settings() -> DesktopSettings:
    return DesktopSettings(desktop_session=ME, desktop_name="desk")


def test_link_resnapshots_on_a_gap_and_replays_what_came_meanwhile(settings: DesktopSettings) -> None:
    model, client = Model(), RecordingClient()
    link = Link(settings)
    link.attach(client)
    link.on_broker_state("connected")
    link.drain()
    assert client.kinds() == ["snapshot_request"]
    (destination, _, headers), = client.sent
    assert destination == protocol.CONTROL and headers["reply-to"].startswith("/temp-queue/")
    assert headers["persistent"] == "true"

    model.bridge.login(ALICE, "alice")
    client.deliver(model.take()[0])  # arrives before the snapshot that already holds it
    client.reply(model.snapshot())
    link.drain()
    assert link.mirror.participants == {ALICE: "alice"} and link.mirror.snapshots == 1

    model.bridge.write(ALICE, "entry_field", "lost")
    model.bridge.write(ALICE, "entry_field", "seen")
    lost, seen = model.take()
    client.deliver(seen)
    link.drain()
    assert client.kinds() == ["snapshot_request", "snapshot_request"] and not link.synced
    # the stream goes on while the snapshot is on its way: held, then replayed after it
    snapshot = model.snapshot()
    model.bridge.write(ALICE, "rating_selector", 5)
    for message in model.take():
        client.deliver(message)
    client.reply(snapshot)
    link.drain()
    _same_state(link.mirror, model)
    assert link.synced
    assert [m["text"] for m in link.mirror.messages] == ["lost", "seen"]
    assert link.mirror.connection_ratings == {ALICE: 5}


def test_link_resnapshots_after_a_reconnect(settings: DesktopSettings) -> None:
    model, client = Model(), RecordingClient()
    link = Link(settings)
    link.attach(client)
    link.on_broker_state("connected")
    client.reply(model.snapshot())
    link.drain()
    link.on_broker_state("disconnected")
    link.drain()
    assert not link.connected
    link.on_broker_state("connected")
    link.drain()
    assert client.kinds() == ["snapshot_request", "snapshot_request"]


def test_participant_logs_in_and_writes_only_once_it_is_seen(settings: DesktopSettings) -> None:
    model, client = Model(), RecordingClient()
    link = Link(settings, participant=True)
    link.attach(client)
    link.on_broker_state("connected")
    client.reply(model.snapshot())
    link.drain()
    assert client.kinds() == ["snapshot_request", "login"]
    login = client.sent[1][1]
    assert login["id"] == ME and login["name"] == "desk" and protocol.decode_control(protocol.encode(login))

    assert not link.post("too early") and "not joined" in link.last_error
    model.bridge.login(ME, "desk")
    for message in model.take():
        client.deliver(message)
    link.drain()
    assert link.joined
    assert link.post("hello from the desktop") and link.rate(4)
    assert not link.rate(9) and "at most 5" in link.last_error  # the model's published schema
    writes = [body for destination, body, _ in client.sent if destination == protocol.INPUT]
    assert [(w["trait"], w["value"]) for w in writes] == [("entry_field", "hello from the desktop"),
                                                          ("rating_selector", 4)]
    assert all(protocol.decode_input(protocol.encode(w)).id == ME for w in writes)

    # logged out (idle) by the model: log in again
    model.bridge.logout(ME)
    for message in model.take():
        client.deliver(message)
    link.drain()
    assert not link.joined and client.kinds()[-1] == "login"


def test_plot_data_follow_the_mirror() -> None:
    model = Model()
    now = [1000.0]
    mirror = StateMirror()
    data = ChatPlotData(mirror=mirror, clock=lambda: now[0], bucket_seconds=10.0, buckets=6)
    model.chat.clock = lambda: now[0]
    mirror.apply(model.snapshot())
    data.refresh()
    assert data.rating_counts.tolist() == [0, 0, 0, 0, 0]
    assert np.isnan(data.average_per_bucket).all()

    for session, name, rating in ((ALICE, "alice", 5), (BOB, "bob", 3), (ME, "desk", 5)):
        model.bridge.login(session, name)
        model.bridge.write(session, "rating_selector", rating)
    model.bridge.write(ALICE, "entry_field", "one")
    now[0] = 1012.0
    model.bridge.write(BOB, "entry_field", "two")
    model.bridge.write(BOB, "entry_field", "three")
    for message in model.take():
        mirror.apply(message)
    assert data.refresh()
    assert data.rating_counts.tolist() == [0, 0, 1, 0, 2]
    assert data.participant_names == ["alice", "bob", "desk"]
    assert data.participant_ratings.tolist() == [5, 3, 5]
    assert data.bucket_times.tolist() == [-52, -42, -32, -22, -12, -2]
    assert data.messages_per_bucket.tolist() == [0, 0, 0, 0, 1, 2]
    assert data.average_per_bucket[-1] == pytest.approx(13 / 3, abs=1e-6)
    # what the Chaco plots draw is the same arrays
    assert data.plot_data.get_data("rating_counts").tolist() == [0, 0, 1, 0, 2]
    assert not data.refresh()  # nothing changed, same interval

    now[0] = 1075.0  # time moves on: the old messages leave the window
    assert data.refresh()
    assert data.messages_per_bucket.sum() == 0
    assert data.average_per_bucket[-1] == pytest.approx(13 / 3, abs=1e-6)
