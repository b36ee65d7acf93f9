"""Client-side change application of RemoteModel, no stack: a link that never connects is fed poll replies
as the follower thread would feed them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from traits.api import HasTraits, TraitError

from traitsweb.client import RemoteError, RemoteModel, _Link
from traitsweb.remote_traits import remote_class

SCHEMA = {"type": "object", "properties": {
    "code": {"type": "string"},
    "level": {"type": "integer", "minimum": 0, "maximum": 100},
    "log": {"type": "array", "items": {"type": "integer"}, "readOnly": True},
    "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "readOnly": True},
    "counts": {"type": "object", "additionalProperties": {"type": "integer"}, "readOnly": True},
    "bump": {"type": "integer", "writeOnly": True},
    "notes": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
}}
STATE = {"code": "AAA", "level": 10, "log": [1], "tags": ["a"], "counts": {"a": 1}, "notes": []}
ME = "me"


@pytest.fixture
def offline() -> Iterator[tuple[Any, _Link, list[tuple[str, Any]]]]:
    """A RemoteModel on a link that records what it would send instead of sending it."""
    link = _Link("http://127.0.0.1:9", "poll", 1.0)
    link.session_id = ME
    sent: list[tuple[str, Any]] = []

    def send(trait: str, value: Any) -> str:
        if isinstance(value, list) and "boom" in value:
            raise RemoteError("invalid_value", "no", status=422)
        sent.append((trait, value))
        return f"m{len(sent)}"

    link.send = send  # type: ignore[method-assign]
    remote = remote_class(SCHEMA, RemoteModel)()
    HasTraits.__setattr__(remote, "_link", link)
    link.properties = SCHEMA["properties"]
    link._remote = remote
    link._receive({"reset": True, "epoch": "e1", "seq": 5, "state": STATE})
    remote._watch_containers()
    yield remote, link, sent
    link.http.close()
    link.follow_http.close()


def change(seq: int, trait: str, op: str, **fields: Any) -> dict[str, Any]:
    return {"type": "trait_change", "epoch": "e1", "seq": seq, "trait": trait, "op": op, **fields}


def test_every_op_sets_the_traits_and_nothing_is_sent_back(offline: Any) -> None:
    remote, link, sent = offline
    events: list[str] = []
    remote.observe(lambda event: events.append(event.name), "code, level, log, tags, counts")
    link._receive({"epoch": "e1", "seq": 10, "messages": [
        change(6, "log", "list", index=1, removed=0, added=[2, 3]),
        change(7, "tags", "set_items", added=["b"], removed=["a"]),
        change(8, "counts", "dict", set={"b": 2}, removed=["a"]),
        change(9, "level", "set", value=42),
        change(10, "code", "set", value="QQQ"),
    ]})
    assert (list(remote.log), remote.tags, remote.counts, remote.level, remote.code) == ([1, 2, 3], {"b"}, {"b": 2}, 42, "QQQ")
    assert sorted(events) == ["code", "counts", "level", "log", "tags"]
    assert sent == [] and link.pushed == ("e1", 10)


def test_stale_messages_and_other_epochs_are_skipped_and_a_reset_replaces_all(offline: Any) -> None:
    remote, link, _ = offline
    link._receive({"epoch": "e1", "seq": 6, "messages": [change(5, "level", "set", value=1),
                                                        change(6, "level", "set", value=2)]})
    assert remote.level == 2
    link._receive({"epoch": "e0", "seq": 9, "messages": [change(9, "level", "set", value=3)]})
    assert remote.level == 2
    link._receive({"reset": True, "epoch": "e2", "seq": 1, "state": {**STATE, "log": [], "level": 50}})
    assert (list(remote.log), remote.level, link.pushed) == ([], 50, ("e2", 1))


def test_writes_are_sent_and_a_model_refusal_restores_the_states_value(offline: Any) -> None:
    remote, link, sent = offline
    refused: list[dict[str, Any]] = []
    remote.observe(lambda event: refused.append(event.new), "refused")
    remote.code = "abc"
    remote.bump = 3
    assert sent == [("code", "abc"), ("bump", 3)] and (remote.code, remote.bump) == ("abc", 3)
    error = {"type": "error", "epoch": "e1", "seq": 6, "to": ME, "code": "invalid_value",
             "detail": "must match", "trait": "code", "msg_id": "m1"}
    link._receive({"epoch": "e1", "seq": 6, "messages": [error]})
    assert remote.code == "AAA"
    assert remote.errors == refused == [{"code": "invalid_value", "detail": "must match", "trait": "code", "msg_id": "m1"}]
    # a refusal that arrives before the 202 was read: the refused value is never shown
    link._receive({"epoch": "e1", "seq": 7, "messages": [{**error, "seq": 7, "msg_id": "m3"}]})
    link.assign_written(remote, "code", "xyz", "m3")
    assert remote.code == "AAA" and len(remote.errors) == 2


def test_a_writable_container_changed_in_place_is_sent_whole(offline: Any) -> None:
    remote, link, sent = offline
    remote.notes.append("x")
    remote.notes.append("y")
    assert sent == [("notes", ["x"]), ("notes", ["x", "y"])]
    link._receive({"epoch": "e1", "seq": 6, "messages": [change(6, "notes", "list", index=0, removed=0, added=["x"])]})
    assert list(remote.notes) == ["x"] and len(sent) == 2  # a remote change is not sent back
    with pytest.raises(TraitError):  # over maxItems: the local list refuses it in the caller's thread
        remote.notes.extend(["p", "q"])
    remote.notes.append("boom")  # the gateway refuses it: no caller to raise to, so reported; the state's value again
    assert len(sent) == 2 and list(remote.notes) == ["x"]
    assert remote.errors[-1] == {"code": "invalid_value", "detail": "no", "trait": "notes", "msg_id": None}


def test_retry_after_is_read_as_seconds() -> None:
    from traitsweb.client import _seconds

    assert [_seconds(v) for v in ("2", "0.5", "", "soon", "-3", "1e9")] == [2.0, 0.5, 0.0, 0.0, 0.0, 60.0]
