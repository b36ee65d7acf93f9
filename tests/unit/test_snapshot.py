"""Bounded snapshots: long lists keep their newest items, and changes with absolute indices still apply."""

from __future__ import annotations

import random
from typing import Any

from traitsweb import protocol
from traitsweb.snapshot import DEFAULT_MAX_BYTES, bound_state, encoded_size
from traitsweb.state import Outcome, State, apply_change, localize

CAP, TEXT = 10_000, 2_000


def chat_at_cap() -> dict[str, Any]:
    # the worst case of a character: three UTF-8 bytes each (the chat's limit is in characters)
    messages = [{"user": "u", "text": f"{i:06d}" + "€" * (TEXT - 6), "time": 1.5 + i} for i in range(CAP)]
    return {"messages": messages, "participants": {"a" * 32: "alice"}, "average_rating": 0.0}


def snapshot_body(values: dict[str, Any], limit: int) -> tuple[bytes, dict[str, Any]]:
    envelope = protocol.out_message("snapshot", "e1", 7, state={}, schema={"type": "object"}, page="chat")
    envelope["state"], truncated = bound_state(values, limit - encoded_size(envelope))
    envelope["truncated"] = truncated
    return protocol.encode(envelope).encode(), envelope


def test_a_chat_of_10000_long_messages_fits_the_maximum_with_its_newest_messages() -> None:
    values = chat_at_cap()
    body, snapshot = snapshot_body(values, DEFAULT_MAX_BYTES)
    assert encoded_size(values) > 50 * DEFAULT_MAX_BYTES  # would have been ~60 MB
    assert len(body) <= DEFAULT_MAX_BYTES
    kept = snapshot["state"]["messages"]
    assert kept and kept == values["messages"][-len(kept):]  # the newest part, in order
    assert snapshot["truncated"] == {"messages": CAP - len(kept)}
    assert len(body) > DEFAULT_MAX_BYTES - 2 * encoded_size(kept[0])  # the budget is used, not wasted
    assert snapshot["state"]["participants"] == values["participants"]


def test_a_small_state_is_sent_whole_and_lists_share_the_budget() -> None:
    small = {"messages": [1, 2, 3], "other": "x"}
    assert bound_state(small, 1000) == (small, {})
    both = {"a": ["x" * 100] * 100, "b": ["y" * 10] * 5}  # b fits in its share: a gets the rest
    values, truncated = bound_state(both, 5000)
    assert values["b"] == both["b"] and "b" not in truncated
    assert 0 < len(values["a"]) < 100 and truncated == {"a": 100 - len(values["a"])}
    assert encoded_size({"state": values, "truncated": truncated}) <= 5000
    # a replica's list already held from index 40 on counts from the list's absolute start
    values, truncated = bound_state({"a": ["x" * 100] * 100}, 5000, {"a": 40})
    assert truncated == {"a": 140 - len(values["a"])}


def test_bounding_never_encodes_the_oldest_items() -> None:
    """The work is the part kept, not the whole history: items past the budget are never even encoded
    (here an item JSON cannot encode at the head, which would raise)."""
    values = {"messages": [{"unencodable": {1, 2}}] + ["x" * 100] * 10_000}
    kept, truncated = bound_state(values, 10_000)
    assert kept["messages"] == ["x" * 100] * len(kept["messages"]) and truncated == {"messages": 10_001 - len(kept["messages"])}


def test_changes_with_absolute_indices_apply_to_a_truncated_list() -> None:
    rng = random.Random(15)
    for start in (0, 1, 5, 30):
        model = {"t": list(range(40))}
        held, offsets = {"t": model["t"][start:]}, ({"t": start} if start else {})
        for step in range(400):
            full = model["t"]
            roll = rng.random()
            if roll < 0.35:  # an append
                change = {"index": len(full), "removed": 0, "added": [1000 + step]}
            elif roll < 0.6 and full:  # the oldest dropped (a history cap)
                change = {"index": 0, "removed": rng.randint(1, 2), "added": []}
            elif roll < 0.98:  # anywhere
                index = rng.randint(0, len(full))
                change = {"index": index, "removed": rng.randint(0, 3), "added": [2000 + step] * rng.randint(0, 2)}
            else:
                change = {"op": "set", "value": [3000 + step]}
            change = {"trait": "t", "op": "list", **change}
            apply_change(model, change)
            apply_change(held, localize(change, offsets))
            assert held["t"] == model["t"][offsets.get("t", 0):], (start, step, change)


def test_state_loads_a_truncated_snapshot_and_follows_appends_and_head_removals_at_the_cap() -> None:
    model = chat_at_cap()
    _, snapshot = snapshot_body(model, DEFAULT_MAX_BYTES)
    state = State()
    assert state.load(snapshot) is Outcome.RESET
    offset = state.offsets["messages"]
    for n in range(3):  # each new message at the cap: appended, and the oldest dropped
        new = {"user": "u", "text": f"new {n}", "time": 0.0}
        for change in ({"op": "list", "index": CAP, "removed": 0, "added": [new]},
                       {"op": "list", "index": 0, "removed": 1, "added": []}):
            message = {"type": "trait_change", "epoch": "e1", "seq": state.seq + 1, "trait": "messages", **change}
            apply_change(model, message)
            assert state.apply(message) is Outcome.APPLIED
    assert len(model["messages"]) == CAP
    assert state.offsets["messages"] == offset - 3
    assert state.values["messages"] == model["messages"][offset - 3:]
    assert state.applied == {"type": "trait_change", "epoch": "e1", "seq": state.seq, "trait": "messages",
                             "op": "list", "index": 0, "removed": 0, "added": []}
