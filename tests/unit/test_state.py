from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from traitsweb.state import Outcome, State, apply_change, writable_traits


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


#: Change vectors shared with the page's own change application (tests/gateway/test_page_changes.py).
CHANGES = json.loads((Path(__file__).parent / "changes.json").read_text())


@pytest.mark.parametrize("case", CHANGES, ids=[case["why"] for case in CHANGES])
def test_every_change_kind(case: dict[str, Any]) -> None:
    values: dict[str, Any] = {} if case["before"] is None else {"t": case["before"]}
    apply_change(values, {"type": "trait_change", "trait": "t", **case["change"]})
    assert values == {"t": case["after"]}


def test_containers_are_changed_in_place_and_never_shared_with_the_message() -> None:
    items: list[Any] = [{"n": 0}]
    table: dict[str, Any] = {}
    values: dict[str, Any] = {"items": items, "table": table}
    added = {"op": "list", "trait": "items", "index": 1, "removed": 0, "added": [{"n": 1}]}
    dict_change = {"op": "dict", "trait": "table", "set": {"k": {"deep": [1]}}, "removed": []}
    whole = {"op": "set", "trait": "other", "value": {"deep": [1]}}
    for message in (added, dict_change, whole):
        apply_change(values, message)
    assert values["items"] is items and values["table"] is table  # changed, not replaced
    added["added"][0]["n"] = 99
    dict_change["set"]["k"]["deep"].append(2)
    whole["value"]["deep"].append(2)
    assert values == {"items": [{"n": 0}, {"n": 1}], "table": {"k": {"deep": [1]}}, "other": {"deep": [1]}}


def test_an_unknown_op_is_an_error_and_changes_nothing() -> None:
    values = {"t": [1]}
    with pytest.raises(ValueError, match="unknown change op"):
        apply_change(values, {"trait": "t", "op": "splice"})
    assert values == {"t": [1]}


def test_state_applies_in_order_and_ignores_stale() -> None:
    state = State()
    assert not state.ready
    assert state.apply(change(1, "avg", op="set", value=1)) is Outcome.GAP
    snapshot = {"type": "snapshot", "epoch": "e1", "seq": 1, "state": {"avg": 1}, "schema": {}}
    assert state.load(snapshot) is Outcome.RESET
    assert state.apply(change(1, "avg", op="set", value=1)) is Outcome.STALE
    assert state.apply(change(2, "avg", op="set", value=2)) is Outcome.APPLIED
    assert state.apply({"type": "error", "epoch": "e1", "seq": 3, "to": "s"}) is Outcome.APPLIED
    assert (state.seq, state.values) == (3, {"avg": 2})
    assert state.load(snapshot) is Outcome.STALE  # older than what we hold


def test_state_detects_gaps_and_new_epochs() -> None:
    state = State()
    state.load({"type": "snapshot", "epoch": "e1", "seq": 5, "state": {"avg": 0}})
    assert state.apply(change(7, "avg", op="set", value=1)) is Outcome.GAP
    assert state.apply(change(6, "avg", epoch="e2", op="set", value=1)) is Outcome.GAP
    assert state.seq == 5
    fresh = {"type": "snapshot", "epoch": "e2", "seq": 0, "state": {"avg": 9}}
    assert state.apply(fresh) is Outcome.RESET
    assert (state.epoch, state.seq, state.values) == ("e2", 0, {"avg": 9})


def test_snapshot_state_and_schema_are_copies() -> None:
    state = State()
    values: dict[str, Any] = {"messages": []}
    schema = {"type": "object", "properties": {"x": {"type": "integer", "writeOnly": True}}}
    state.load({"type": "snapshot", "epoch": "e", "seq": 0, "state": values, "schema": schema})
    state.apply(change(1, "messages", epoch="e", op="list", index=0, removed=0, added=[1]))
    schema["properties"]["x"]["type"] = "string"
    assert values == {"messages": []}
    assert state.schema["properties"]["x"]["type"] == "integer"
    assert state.writable == {"x": {"type": "integer", "writeOnly": True}}


def test_writable_traits_are_the_properties_not_read_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "seen": {"type": "number", "readOnly": True},
            "written": {"enum": ["a", "b"], "writeOnly": True},
            "both": {"type": "integer"},
        },
    }
    before = copy.deepcopy(schema)
    assert writable_traits(schema) == {"written": {"enum": ["a", "b"], "writeOnly": True}, "both": {"type": "integer"}}
    assert writable_traits({}) == {} and schema == before
