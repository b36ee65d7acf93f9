"""The model's journal on a real RabbitMQ node: what a model process rebuilds from the streams alone, and
the rule that makes a stale writer harmless (entries count in stream order, the next ``txn`` only)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from runner.stack import Stack
from services.model.journal import JournalLost, StreamStore
from traitsweb import protocol
from traitsweb.broker import BrokerClient, connect
from traitsweb.settings import parse_broker_url

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    with make_stack(gateways=0, proxy=False, model=False) as stack:
        yield stack


@contextmanager
def journal(stack: Stack) -> Iterator[StreamStore]:
    """A model process's view of the journal, on a connection of its own."""
    with _client(stack, "model") as client, StreamStore(client, timeout=30) as store:
        yield store


@contextmanager
def _client(stack: Stack, user: str) -> Iterator[BrokerClient]:
    with connect(parse_broker_url(stack.broker_url(user)), name=f"test-{user}") as client:
        assert client.wait_connected(30)
        yield client


def change(epoch: str, seq: int, text: str) -> tuple[int, str]:
    message = protocol.out_message("trait_change", epoch, seq, trait="notes", op="list", index=seq - 1,
                                   removed=0, added=[text])
    return seq, protocol.encode(message)


def commit(store: StreamStore, texts: list[str], *, owner: str | None = None) -> list[str]:
    """One transaction per text (with a msg_id); the msg_ids."""
    epoch, seq, _ = store.load()
    ids = []
    for n, text in enumerate(texts, start=1):
        msg_id = uuid.uuid4().hex
        store.commit([change(epoch, seq + n, text)], [msg_id], owners={f"s-{text}": owner} if owner else None)
        ids.append(msg_id)
    return ids


def test_a_new_process_rebuilds_epoch_seq_state_owners_and_msg_ids_from_checkpoint_and_journal(stack: Stack) -> None:
    with journal(stack) as first:
        before_checkpoint = commit(first, ["a", "b"], owner="gateway")
        epoch, seq, state = first.load()
        first.checkpoint(seq, state)
        after_checkpoint = commit(first, ["c"], owner="desktop")
        expected = first.load()
        owners = first.owners()
    assert owners == {"s-a": "gateway", "s-b": "gateway", "s-c": "desktop"}
    with journal(stack) as again:  # nothing local: a process on another host
        assert again.load() == expected
        assert expected[0] == epoch and expected[2]["notes"][-3:] == ["a", "b", "c"]
        assert again.owners() == owners
        assert all(again.seen(msg_id) for msg_id in before_checkpoint + after_checkpoint)
        assert not again.seen(uuid.uuid4().hex)


def test_an_entry_for_a_txn_already_taken_changes_nothing_for_any_reader(stack: Stack) -> None:
    with journal(stack) as store:
        commit(store, ["kept"])
        epoch, seq, state = store.load()
        # what a model that was frozen and came back would write: the txn it believes is next, long taken
        stale = {"kind": "txn", "txn": 1, "writer": "stale", "epoch": epoch, "messages": [change(epoch, seq + 1, "stale")],
                 "msg_id": "stale-msg", "owners": {"s-stale": "gateway"}}
        with _client(stack, "model") as raw:
            raw.send(protocol.JOURNAL_WRITE, json.dumps(stale), headers={"persistent": "true"})
        assert store.load() == (epoch, seq, state)
        assert not store.seen("stale-msg") and "s-stale" not in store.owners()
        commit(store, ["after"])  # the next txn is still the store's own
        assert store.load()[1] == seq + 1
    with journal(stack) as reader:
        assert reader.load()[1] == seq + 1 and reader.load()[2]["notes"][-1] == "after"


def test_only_the_model_may_write_the_journal(stack: Stack) -> None:
    with journal(stack) as store, _client(stack, "gateway") as gateway:
        before = store.load()
        entry = {"kind": "txn", "txn": 10**6, "writer": "gateway", "epoch": before[0], "messages": [],
                 "msg_id": None, "owners": {}}
        with pytest.raises(Exception, match="refused|lost"):
            gateway.send(protocol.JOURNAL_WRITE, json.dumps(entry), headers={"persistent": "true"})
        assert store.load() == before


def test_a_batch_of_inputs_is_one_entry_and_an_entry_of_one_msg_id_is_still_read(stack: Stack) -> None:
    with journal(stack) as store:
        epoch, seq, _ = store.load()
        txn = store._c.txn  # the committed entry count (no public reader needs it)
        store.commit([change(epoch, seq + 1, "b1"), change(epoch, seq + 2, "b2")], ["batch-1", "batch-2"])
        assert store._c.txn == txn + 1 and store.seen("batch-1") and store.seen("batch-2")
        # as a model wrote it before a transaction could hold a batch: "msg_id", one or null
        older = {"kind": "txn", "txn": txn + 2, "writer": "older", "epoch": epoch,
                 "messages": [change(epoch, seq + 3, "older")], "msg_id": "older-1", "owners": {}}
        with _client(stack, "model") as raw:
            raw.send(protocol.JOURNAL_WRITE, json.dumps(older), headers={"persistent": "true"})
        assert store.load()[1] == seq + 3 and store.seen("older-1")
    with journal(stack) as reader:
        assert all(reader.seen(msg_id) for msg_id in ("batch-1", "batch-2", "older-1"))
        assert reader.load()[2]["notes"][-3:] == ["b1", "b2", "older"]


def test_a_journal_missing_entries_the_checkpoint_needs_is_refused(stack: Stack) -> None:
    # last in this module: it leaves the journal broken on purpose
    with journal(stack) as store:
        epoch, _, _ = store.load()
        with _client(stack, "model") as raw:
            hole = {"kind": "txn", "txn": 10**6, "writer": "x", "epoch": epoch, "messages": [], "msg_id": None,
                    "owners": {}}
            raw.send(protocol.JOURNAL_WRITE, json.dumps(hole), headers={"persistent": "true"})
    with pytest.raises(JournalLost, match="no entry"), journal(stack):
        pass
