"""Group commit: the frames that arrive while a commit flushes are applied in order and committed in one
transaction; a poison frame among them is dead-lettered alone, the others applied once each.

In process on the memory broker. A test holds the model's first commit (the store's ``commit`` waits for
the test) and sends the batch meanwhile; it releases the commit once every frame of the batch has reached
the model, so those frames are one batch by construction, whatever the machine's speed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.model.chat import create
from services.model.store import Store
from tests.inprocess import TIMEOUT, Served
from tests.models.fragile import Fragile

#: a lone UTF-16 surrogate: valid in JSON and in a Python str, refused by SQLite when the model commits it
POISON = "\ud800"


class Held:
    """Holds the model's next commit until :meth:`release`; counts the frames the model receives meanwhile."""

    def __init__(self, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self._release = threading.Event()
        self._arrived = 0
        self._cond = threading.Condition()
        commit, on_frame = served.store.commit, served.service._on_frame

        def held_commit(*args: Any, **kwargs: Any) -> None:
            if not self.entered.is_set():
                self.entered.set()
                assert self._release.wait(TIMEOUT), "the test never released the held commit"
            commit(*args, **kwargs)

        def counted(kind: str, frame: Any) -> None:
            on_frame(kind, frame)
            with self._cond:
                self._arrived += 1
                self._cond.notify_all()

        monkeypatch.setattr(served.store, "commit", held_commit)
        monkeypatch.setattr(served.service, "_on_frame", counted)

    def wait_entered(self) -> None:
        """Until the model is in the held commit (what is sent from now on queues up behind it)."""
        assert self.entered.wait(TIMEOUT), "the model never committed"

    def release(self, *, after: int, check: Served | None = None) -> None:
        """Let the held commit go once ``after`` frames (the held one included) have reached the model; with
        ``check``, first assert that nothing sent since the commit began was published or acknowledged."""
        with self._cond:
            assert self._cond.wait_for(lambda: self._arrived >= after, TIMEOUT), f"{self._arrived} of {after} arrived"
        if check is not None:
            assert check.arrived[-1]["seq"] < check.service.seq, "published before the commit was on disk"
            assert not check.settle(0), "acknowledged before the commit was on disk"
        self._release.set()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(create(), tmp_path)
    yield s
    s.close()


def texts(served: Served) -> list[str]:
    return [m.text for m in served.model.messages]


def assert_numbered_in_order(served: Served) -> list[dict[str, Any]]:
    """Every out message so far follows the one before it (the placeholder of a private one repeats its seq)."""
    published = served.follow()
    assert served.mirror.seq == served.service.seq == served.store.load()[1]
    return published


def test_inputs_sent_while_a_commit_flushes_are_committed_in_one_transaction(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    session = served.login("ada")
    served.follow()
    held = Held(served, monkeypatch)
    before = served.store.commits
    served.write(session, "entry_field", "first", wait=False)
    held.wait_entered()
    batch = [f"batch {n}" for n in range(20)]
    for text in batch:
        served.write(session, "entry_field", text, wait=False)
    held.release(after=1 + len(batch), check=served)
    assert served.settle()
    assert served.store.commits - before == 2  # the held commit, then one for everything queued behind it
    assert texts(served) == ["first", *batch]
    assert_numbered_in_order(served)
    with Store(served.store.path) as disk:  # what is on disk
        assert disk.load()[1] == served.service.seq


def test_a_lone_input_is_committed_alone(served: Served) -> None:
    session = served.login("ada")
    before = served.store.commits
    served.write(session, "entry_field", "alone")
    assert served.store.commits - before == 1 and texts(served) == ["alone"]


def test_a_send_retried_within_one_batch_is_applied_once(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    session = served.login("ada")
    held = Held(served, monkeypatch)
    served.write(session, "entry_field", "held", wait=False)
    held.wait_entered()
    for _ in range(3):  # a gateway retrying a send whose receipt it lost: the same msg_id each time
        served.write(session, "entry_field", "retried", msg_id="retry-1", wait=False)
    held.release(after=4)
    assert served.settle()
    assert texts(served) == ["held", "retried"]
    served.write(session, "entry_field", "retried", msg_id="retry-1")  # and after that batch's commit
    assert texts(served) == ["held", "retried"]
    assert_numbered_in_order(served)


@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_poison_input_in_a_batch_is_dead_lettered_and_the_others_applied_once_in_order(
        served: Served, monkeypatch: pytest.MonkeyPatch, where: int) -> None:
    """The poison fails the batch's commit (SQLite refuses the surrogate): the batch is committed frame by
    frame, the frames after the poison applied again on the state without it."""
    session = served.login("ada")
    served.follow()
    held = Held(served, monkeypatch)
    served.write(session, "entry_field", "held", wait=False)
    held.wait_entered()
    good = ["one", "two"]
    values = [*good[:where], POISON, *good[where:]]
    ids = [served.write(session, "entry_field", value, wait=False) for value in values]
    held.release(after=1 + len(values))
    assert served.settle()
    assert [letter["msg_id"] for letter in served.dead_letters] == [ids[where]]
    assert texts(served) == ["held", *good]
    published = assert_numbered_in_order(served)
    assert not any(POISON in str(m) for m in published)
    served.write(session, "entry_field", "after")  # serves on
    assert texts(served) == ["held", *good, "after"]
    served.write(session, "entry_field", "one", msg_id=ids[values.index("one")])  # each good one: applied once
    assert texts(served) == ["held", *good, "after"]


@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_frame_that_fails_to_apply_in_a_batch_is_dead_lettered_and_the_others_applied_once_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: int) -> None:
    """The model raises in the middle of its change (``tests/models/fragile.py``): what the batch applied
    before is committed, the model goes back to it, the frames after are applied on it."""
    served = Served(Fragile(), tmp_path)
    try:
        served.login("first")
        served.follow()
        held = Held(served, monkeypatch)
        served.login("held", wait=False)
        held.wait_entered()
        names = ["one", "two"]
        logins = [*names[:where], "crash-me", *names[where:]]
        sessions = [served.login(name, wait=False) for name in logins]
        held.release(after=1 + len(logins))
        assert served.settle()
        assert [letter["id"] for letter in served.dead_letters] == [sessions[where]]
        assert served.model.names == ["first", "held", *names]
        assert sessions[where] not in served.model.participants
        assert_numbered_in_order(served)
        with Store(served.store.path) as disk:
            assert disk.load()[2]["names"] == ["first", "held", *names]
    finally:
        served.close()


def test_a_snapshot_asked_for_in_a_batch_shows_only_what_was_committed(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    session = served.login("ada")
    held = Held(served, monkeypatch)
    served.write(session, "entry_field", "held", wait=False)
    held.wait_entered()
    served.write(session, "entry_field", POISON, wait=False)  # applied in memory, then refused by the commit
    answer = served.request_snapshot(wait=False)
    served.write(session, "entry_field", "after", wait=False)
    held.release(after=4)
    assert served.settle()
    snapshot = answer.result(TIMEOUT)
    assert [m["text"] for m in snapshot["state"]["messages"]] == ["held", "after"]
    assert snapshot["seq"] == served.service.seq
    assert len(served.dead_letters) == 1
