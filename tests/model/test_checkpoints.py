"""When the model checkpoints: every ``checkpoint_every`` journal entries, but a big state only once the
journal since its last checkpoint is as long as that checkpoint was (a checkpoint writes the whole state
under the model's lock). In process on the memory broker, on the SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.model.chat import create
from tests.inprocess import Served

TEXT = 1000  # characters per message: each one makes the state ~1 KB bigger


def tick(served: Served) -> None:
    """What the service's loop does between frames (its ``run``), once."""
    with served.service._lock:
        served.service._tick(False)


def test_a_growing_state_is_checkpointed_by_the_journal_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = Served(create(), tmp_path, checkpoint_every=5)
    taken: list[tuple[int, int, int]] = []  # (journal bytes since the last one, its size, the new one's size)
    store, real = served.store, served.store.checkpoint

    def recorded(seq: int, state: dict[str, Any]) -> None:
        before = (store.bytes_since_checkpoint, store.checkpoint_size)
        real(seq, state)
        taken.append((*before, store.checkpoint_size))

    monkeypatch.setattr(store, "checkpoint", recorded)
    try:
        session = served.login("writer")
        for i in range(200):
            served.write(session, "entry_field", f"{i:04d} " + "x" * (TEXT - 5))
            tick(served)
        state = served.service.bridge.state()
    finally:
        served.close()
    # every 5 entries would be ~40 checkpoints; each one waited for a journal as long as the one before
    assert 3 <= len(taken) <= 12, taken
    assert all(since >= size for since, size, _ in taken), taken
    assert taken[-1][2] > 100 * TEXT  # the last one holds over half of the 200 messages
    restarted = Served(create(), tmp_path)  # checkpoint + the journal after it: the same state
    try:
        assert restarted.service.bridge.state()["messages"] == state["messages"]
    finally:
        restarted.close()


def test_a_small_state_is_checkpointed_every_so_many_entries(tmp_path: Path) -> None:
    served = Served(create(), tmp_path, checkpoint_every=5)
    try:
        session = served.login("writer")
        due = []
        for i in range(20):
            served.write(session, "rating_selector", 1 + i % 5)
            due.append(served.store.since_checkpoint)
            tick(served)
    finally:
        served.close()
    # ratings are small changes, the state stays small: the count alone decides
    assert max(due) <= 5 + 1, due
