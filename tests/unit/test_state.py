from __future__ import annotations

from typing import Any

from traitsweb.state import Mirror, Outcome, apply_change, writable_traits


def change(seq: int, trait: str, epoch: str = "e1", **fields: Any) -> dict[str, Any]:
    return {"type": "trait_change", "epoch": epoch, "seq": seq, "trait": trait, **fields}


def test_apply_each_op() -> None:
    state: dict[str, Any] = {"messages": ["a", "b"], "ratings": {"x": 1}, "tags": ["p"], "avg": 0}
    apply_change(state, change(1, "messages", op="list", index=2, removed=0, added=["c"]))
    apply_change(state, change(2, "messages", op="list", index=0, removed=1, added=[]))
    apply_change(state, change(3, "ratings", op="dict", set={"y": 5, "x": 2}, removed=[]))
    apply_change(state, change(4, "ratings", op="dict", set={}, removed=["x"]))
    apply_change(state, change(5, "tags", op="set_items", added=["q"], removed=["p"]))
    apply_change(state, change(6, "avg", op="set", value=3.5))
    assert state == {"messages": ["b", "c"], "ratings": {"y": 5}, "tags": ["q"], "avg": 3.5}


def test_mirror_applies_in_order_and_ignores_stale() -> None:
    mirror = Mirror()
    assert not mirror.ready
    assert mirror.feed(change(1, "avg", op="set", value=1)) is Outcome.GAP
    snapshot = {"type": "snapshot", "epoch": "e1", "seq": 1, "state": {"avg": 1}, "schema": {}}
    assert mirror.load(snapshot) is Outcome.RESET
    assert mirror.feed(change(1, "avg", op="set", value=1)) is Outcome.STALE
    assert mirror.feed(change(2, "avg", op="set", value=2)) is Outcome.APPLIED
    assert mirror.feed({"type": "error", "epoch": "e1", "seq": 3, "to": "s"}) is Outcome.APPLIED
    assert (mirror.seq, mirror.state) == (3, {"avg": 2})
    assert mirror.load(snapshot) is Outcome.STALE  # older than what we hold


def test_mirror_detects_gaps_and_new_epochs() -> None:
    mirror = Mirror()
    mirror.load({"type": "snapshot", "epoch": "e1", "seq": 5, "state": {"avg": 0}})
    assert mirror.feed(change(7, "avg", op="set", value=1)) is Outcome.GAP
    assert mirror.feed(change(6, "avg", epoch="e2", op="set", value=1)) is Outcome.GAP
    assert mirror.seq == 5
    fresh = {"type": "snapshot", "epoch": "e2", "seq": 0, "state": {"avg": 9}}
    assert mirror.feed(fresh) is Outcome.RESET
    assert (mirror.epoch, mirror.seq, mirror.state) == ("e2", 0, {"avg": 9})


def test_snapshot_state_is_a_copy() -> None:
    mirror = Mirror()
    state = {"messages": []}
    mirror.load({"type": "snapshot", "epoch": "e", "seq": 0, "state": state})
    mirror.feed(change(1, "messages", epoch="e", op="list", index=0, removed=0, added=[1]))
    assert state == {"messages": []}


def test_snapshot_schema_is_a_copy_and_says_what_is_writable() -> None:
    mirror = Mirror()
    schema = {"type": "object", "properties": {"x": {"type": "integer", "writeOnly": True},
                                               "y": {"type": "number", "readOnly": True}}}
    mirror.load({"type": "snapshot", "epoch": "e", "seq": 0, "state": {}, "schema": schema})
    schema["properties"]["x"]["type"] = "string"
    assert mirror.schema["properties"]["x"]["type"] == "integer"
    assert mirror.writable == {"x": {"type": "integer", "writeOnly": True}}
    assert writable_traits({}) == {}
