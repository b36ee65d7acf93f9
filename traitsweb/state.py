"""The model's exposed state as plain JSON, and how a stream of changes updates it.

The model publishes one ``trait_change`` per change, in four shapes (``op``):

* ``set``: the whole value of a trait: ``{"op": "set", "value": ...}``;
* ``list``: items of a list: ``{"op": "list", "index": i, "removed": n, "added": [...]}``
  (``n`` items removed at ``i``, then ``added`` inserted there);
* ``dict``: items of a dict: ``{"op": "dict", "set": {k: v}, "removed": [k, ...]}``;
* ``set_items``: items of a set: ``{"op": "set_items", "added": [...], "removed": [...]}``
  (a set travels as a sorted list).

:class:`Mirror` keeps a copy of the state at ``(epoch, seq)`` and tells its
owner when it needs a snapshot. Gateways and the desktop both keep one.
"""

from __future__ import annotations

import copy
import enum
from typing import Any

__all__ = ["Mirror", "Outcome", "apply_change"]


def apply_change(state: dict[str, Any], change: dict[str, Any]) -> None:
    """Apply one ``trait_change`` message to ``state`` in place."""
    trait = change["trait"]
    op = change["op"]
    if op == "set":
        state[trait] = copy.deepcopy(change["value"])
    elif op == "list":
        items = state.setdefault(trait, [])
        index = change["index"]
        items[index : index + change["removed"]] = copy.deepcopy(change["added"])
    elif op == "dict":
        items = state.setdefault(trait, {})
        for key in change.get("removed", ()):
            items.pop(key, None)
        items.update(copy.deepcopy(change.get("set", {})))
    elif op == "set_items":
        members = set(state.get(trait, ()))
        members.difference_update(change.get("removed", ()))
        members.update(change.get("added", ()))
        state[trait] = sorted(members)
    else:
        raise ValueError(f"unknown change op {op!r}")


class Outcome(enum.Enum):
    APPLIED = "applied"  #: the message was the next one and is now part of the state
    STALE = "stale"  #: already seen (seq not above ours): ignored
    GAP = "gap"  #: a message is missing or the epoch changed: ask for a snapshot
    RESET = "reset"  #: a snapshot replaced the state


class Mirror:
    """A local copy of the model's state, kept at ``(epoch, seq)``.

    Feed it every out message (:meth:`feed`) and every snapshot
    (:meth:`load`). Until the first snapshot it is not ``ready`` and every
    stream message is a gap.
    """

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.seq: int = -1
        self.state: dict[str, Any] = {}
        self.schema: dict[str, Any] = {}
        #: the gateway page made for the model, "" for the generated one
        self.page: str = ""

    @property
    def ready(self) -> bool:
        return self.epoch is not None

    def load(self, snapshot: dict[str, Any]) -> Outcome:
        """Load a ``snapshot`` message unless we already hold that point or a later one."""
        if snapshot["epoch"] == self.epoch and snapshot["seq"] <= self.seq:
            return Outcome.STALE
        self.epoch = snapshot["epoch"]
        self.seq = snapshot["seq"]
        self.state = copy.deepcopy(snapshot["state"])
        self.schema = snapshot.get("schema", {})
        self.page = snapshot.get("page", "")
        return Outcome.RESET

    def feed(self, message: dict[str, Any]) -> Outcome:
        """Apply one out message in stream order."""
        if message["type"] == "snapshot":
            return self.load(message)
        if message["epoch"] != self.epoch:
            return Outcome.GAP
        if message["seq"] <= self.seq:
            return Outcome.STALE
        if message["seq"] != self.seq + 1:
            return Outcome.GAP
        if message["type"] == "trait_change":
            apply_change(self.state, message)
        self.seq = message["seq"]
        return Outcome.APPLIED
