"""The desktop model, link and plot data without a broker or a GUI, on real protocol messages.

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
from services.desktop.model import DesktopModel, Outcome
from services.desktop.plotdata import ChatPlotData
from services.model.chat import Chat
from tests.models.counter import create as create_counter
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


def _traits_match_state(desktop: DesktopModel) -> None:
    for name in ("messages", "connection_ratings", "participants", "average_rating"):
        assert getattr(desktop, name) == desktop.values[name], name


def _same_state(desktop: DesktopModel, model: Model) -> None:
    state = model.bridge.state()
    assert desktop.messages == state["messages"]
    assert desktop.connection_ratings == state["connection_ratings"]
    assert desktop.participants == state["participants"]
    assert desktop.average_rating == state["average_rating"]
    assert desktop.values == state


def test_snapshot_then_stream_keeps_the_desktop_model_equal_to_the_model() -> None:
    model = Model()
    model.bridge.login(ALICE, "alice")
    model.bridge.write(ALICE, "entry_field", "before the desktop came")
    model.take()
    desktop = DesktopModel()
    item_events: list[Any] = []
    desktop.observe(item_events.append, "messages:items")

    assert desktop.apply(model.snapshot()) is Outcome.RESET
    assert desktop.ready and desktop.snapshots == 1 and desktop.seq == model.seq
    _same_state(desktop, model)

    model.bridge.login(BOB, "bob")
    model.bridge.write(BOB, "entry_field", "hi alice")
    model.bridge.write(BOB, "rating_selector", 4)
    model.bridge.write(ALICE, "rating_selector", 2)
    model.bridge.logout(ALICE)
    for message in model.take():
        assert desktop.apply(message) is Outcome.APPLIED
        _traits_match_state(desktop)
    _same_state(desktop, model)
    # one message appended arrived as one item change, not a new list
    assert len(item_events) == 1 and item_events[0].added[0]["text"] == "hi alice"
    assert desktop.seq == model.seq


def test_every_change_kind_of_another_model_reaches_the_values() -> None:
    counter = create_counter()
    out: list[dict[str, Any]] = []
    bridge = Bridge(counter, lambda change: out.append(protocol.out_message(change.pop("type"), "e", len(out) + 1,
                                                                           **change)))
    desktop = DesktopModel()
    desktop.apply(protocol.out_message("snapshot", "e", 0, state=bridge.state(), schema=bridge.schema))
    assert set(desktop.writable) == {"colour", "increment"}
    bridge.login(ALICE, "alice")
    for colour in ("red", "blue", "red"):
        bridge.write(ALICE, "colour", colour)
    bridge.write(ALICE, "increment", 2)
    counter.colours.discard("red")
    bridge.logout(ALICE)
    for message in json.loads(protocol.encode(out)):
        assert desktop.apply(message) is Outcome.APPLIED
    assert {m["op"] for m in out} == {"dict", "set", "list", "set_items"}
    assert desktop.values == bridge.state() and desktop.values["colours"] == ["blue"]
    assert desktop.participants == {} and desktop.messages == []  # alice came and went; no chat here


def test_old_messages_are_stale_and_a_missing_one_is_a_gap() -> None:
    model = Model()
    model.bridge.login(ALICE, "alice")
    early = model.take()
    desktop = DesktopModel()
    desktop.apply(model.snapshot())
    assert all(desktop.apply(m) is Outcome.STALE for m in early)

    model.bridge.write(ALICE, "entry_field", "one")
    model.bridge.write(ALICE, "entry_field", "two")
    first, second = model.take()
    assert desktop.apply(second) is Outcome.GAP
    assert len(desktop.messages) == 0 and desktop.seq == model.seq - 2
    # the re-snapshot brings it back in step
    assert desktop.apply(model.snapshot()) is Outcome.RESET
    assert desktop.snapshots == 2
    _same_state(desktop, model)


def test_a_new_epoch_is_a_gap() -> None:
    model = Model()
    desktop = DesktopModel()
    desktop.apply(model.snapshot())
    other = Model(epoch="epoch-2")
    other.bridge.login(BOB, "bob")
    assert desktop.apply(other.take()[0]) is Outcome.GAP


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
    assert link.model.participants == {ALICE: "alice"} and link.model.snapshots == 1

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
    _same_state(link.model, model)
    assert link.synced
    assert [m["text"] for m in link.model.messages] == ["lost", "seen"]
    assert link.model.connection_ratings == {ALICE: 5}


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


def test_plot_data_follow_the_desktop_model() -> None:
    model = Model()
    now = [1000.0]
    desktop = DesktopModel()
    data = ChatPlotData(model=desktop, clock=lambda: now[0], bucket_seconds=10.0, buckets=6)
    model.chat.clock = lambda: now[0]
    desktop.apply(model.snapshot())
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
        desktop.apply(message)
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


@pytest.mark.parametrize("budget", [None, 1_000])
def test_at_the_history_cap_the_desktop_applies_appends_and_head_removals_item_by_item(budget: int | None) -> None:
    """A chat at its cap: each new message is one append and one removal of the oldest. The desktop applies
    both as item changes (never a new list) and holds no more than the cap; from a bounded snapshot (only
    the newest messages, ``truncated``) it follows the model's newest messages with absolute indices."""
    from traitsweb.snapshot import bound_state

    model = Model()
    model.chat.max_messages = 40
    model.bridge.login(ALICE, "alice")
    for n in range(45):
        model.bridge.write(ALICE, "entry_field", f"old {n}")
    model.take()
    snapshot = model.snapshot()
    if budget is not None:
        snapshot["state"], snapshot["truncated"] = bound_state(snapshot["state"], budget)
        assert 5 < snapshot["truncated"]["messages"] < 40
    desktop = DesktopModel()
    assert desktop.apply(json.loads(protocol.encode(snapshot))) is Outcome.RESET
    held = len(desktop.messages)
    replaced: list[Any] = []
    desktop.observe(replaced.append, "messages")
    items: list[Any] = []
    desktop.observe(items.append, "messages:items")
    for n in range(5):
        model.bridge.write(ALICE, "entry_field", f"new {n}")
    for message in model.take():
        assert desktop.apply(message) is Outcome.APPLIED
        _traits_match_state(desktop)
    full = model.bridge.state()["messages"]
    assert len(full) == 40 and not replaced
    assert desktop.messages == full[len(full) - len(desktop.messages):]
    added = [event.added for event in items if event.added]
    assert [a[0]["text"] for a in added] == [f"new {n}" for n in range(5)]
    if budget is None:  # the whole list: each drop removed the oldest held item, the length stays the cap
        assert len(desktop.messages) == 40 and sum(len(e.removed) for e in items) == 5
    else:  # the drops were older than the part held: nothing held removed
        assert len(desktop.messages) == held + 5 and not any(e.removed for e in items)


def test_participant_reads_its_errors_on_its_own_key_and_placeholders_keep_the_stream_whole() -> None:
    settings = DesktopSettings(desktop_session=ME, desktop_name="desk",
                               broker_url="stomp://desktop:secret@127.0.0.1:61613")  # type: ignore[arg-type]
    model, client = Model(), RecordingClient()
    link = Link(settings, participant=True)
    link.attach(client)
    own = f"/topic/traitsweb.private.desktop.{ME}"
    assert set(client.subscriptions) == {protocol.OUT, own}
    link.on_broker_state("connected")
    snapshot = model.snapshot()
    client.reply(snapshot)
    link.drain()
    epoch, seq = snapshot["epoch"], snapshot["seq"]
    error = {"type": "error", "epoch": epoch, "seq": seq + 1, "to": ME, "code": "invalid_value",
             "detail": "must be 1 <= an integer <= 5", "trait": "rating_selector", "msg_id": "m1"}
    client.deliver(protocol.out_message(protocol.PLACEHOLDER, epoch, seq + 1))  # its seq may come first
    client.subscriptions[own](SimpleNamespace(body=protocol.encode(error)))
    link.drain()
    assert link.model.seq == seq + 1 and link.synced
    assert client.kinds().count("snapshot_request") == 1  # no gap
    assert link.last_error == "invalid_value: must be 1 <= an integer <= 5"
