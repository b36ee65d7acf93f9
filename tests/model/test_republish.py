"""Out messages the broker never confirmed (their connection was lost first) are published again, in seq
order, when the model is connected again: a message lost in flight would be a gap for every reader."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from services.model.chat import create
from tests.inprocess import Served
from traitsweb.broker import BrokerUnavailable
from traitsweb.state import Outcome


def test_unconfirmed_out_messages_are_published_again_after_a_reconnect(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    served = Served(create(), tmp_path)
    try:
        session = served.login("ada")
        served.follow()
        client = served.service._client
        assert client is not None
        send = client.send_async

        def unconfirmed(destination: str, body: str, *, headers: dict[str, str] | None = None) -> Future[Any]:
            send(destination, body, headers=headers)  # it reaches the broker; its receipt never comes
            future: Future[Any] = Future()
            future.set_exception(BrokerUnavailable("connection to the broker lost"))
            return future

        monkeypatch.setattr(client, "send_async", unconfirmed)
        served.write(session, "entry_field", "one")
        served.write(session, "entry_field", "two")
        lost = served.follow()
        assert lost and [m["seq"] for m in lost] == list(range(lost[0]["seq"], lost[0]["seq"] + len(lost)))

        monkeypatch.setattr(client, "send_async", send)
        before = len(served.published)
        served.service.on_broker_state("connected")
        again = served.wait_count(before + len(lost))[before:]
        assert again == lost  # the same messages, in seq order, before anything new
        assert [served.mirror.apply(m) for m in again] == [Outcome.STALE] * len(again)  # readers that had them skip them

        before = len(served.published)
        served.service.on_broker_state("connected")  # all confirmed now: nothing more to send again
        served.write(session, "entry_field", "three")  # something new, to know the broker has passed everything on
        served.wait_for(lambda m: any(a.get("text") == "three" for a in m.get("added", [])))
        assert [m["seq"] for m in served.published[before:]] == [lost[-1]["seq"] + 1]
    finally:
        served.close()


def test_a_restart_sends_again_what_its_predecessor_committed_but_never_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model killed between a commit and its publish: the next process sends the journal's newest out
    messages again on connecting, so readers get those seqs instead of a gap (and their clients a reset)."""
    first = Served(create(), tmp_path)
    try:
        session = first.login("ada")
        client = first.service._client
        assert client is not None

        def never(destination: str, body: str, *, headers: dict[str, str] | None = None) -> Future[Any]:
            return Future()  # committed, then the process "dies" before a frame leaves it

        monkeypatch.setattr(client, "send_async", never)
        first.write(session, "entry_field", "committed, never published")
        committed = first.service.seq
    finally:
        first.close()
    second = Served(create(), tmp_path)
    try:
        assert second.service.seq == committed
        second.service.on_broker_state("connected")
        resent = [m for m in second.wait_count(1) if m["type"] == "trait_change"]
        assert committed in [m["seq"] for m in resent]
        assert any(a.get("text") == "committed, never published" for m in resent for a in m.get("added", []))
    finally:
        second.close()
