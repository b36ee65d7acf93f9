"""The model's exposed state as plain JSON, and how a stream of changes updates it.

The model publishes one ``trait_change`` per change, in four shapes (``op``):

* ``set``: the whole value of a trait: ``{"op": "set", "value": ...}``;
* ``list``: items of a list: ``{"op": "list", "index": i, "removed": n, "added": [...]}``
  (``n`` items removed at ``i``, then ``added`` inserted there);
* ``dict``: items of a dict: ``{"op": "dict", "set": {k: v}, "removed": [k, ...]}``;
* ``set_items``: items of a set: ``{"op": "set_items", "added": [...], "removed": [...]}``
  (a set travels as a sorted list).

:func:`apply_change` is the one implementation of these four shapes; it copies
what it stores, so a state never shares containers with a message or another
state. :class:`State` keeps the values at ``(epoch, seq)`` and tells its
owner when it needs a snapshot. Gateways and the desktop both keep one.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import MutableMapping
from typing import Any

__all__ = ["Outcome", "State", "apply_change", "writable_traits"]


def apply_change(values: MutableMapping[str, Any], change: dict[str, Any]) -> None:
    """Apply one ``trait_change`` message to ``values`` (trait name -> value) in place.

    Lists and dicts already in ``values`` are changed in place (so a
    ``HasTraits`` view of them sees item events), never replaced; whatever is
    stored is a copy of the message's data.
    """
    trait = change["trait"]
    op = change["op"]
    if op == "set":
        values[trait] = copy.deepcopy(change["value"])
    elif op == "list":
        items = values.setdefault(trait, [])
        index = change["index"]
        items[index : index + change["removed"]] = copy.deepcopy(change["added"])
    elif op == "dict":
        items = values.setdefault(trait, {})
        for key in change.get("removed", ()):
            items.pop(key, None)
        items.update(copy.deepcopy(change.get("set", {})))
    elif op == "set_items":
        removed = change.get("removed", [])  # a list, not a set: items may be JSON arrays
        members = [m for m in values.get(trait, ()) if m not in removed]
        members.extend(m for m in change.get("added", ()) if m not in members)
        values[trait] = sorted(members)
    else:
        raise ValueError(f"unknown change op {op!r}")


class Outcome(enum.Enum):
    APPLIED = "applied"  #: the message was the next one and is now part of the state
    STALE = "stale"  #: already seen (seq not above ours): ignored
    GAP = "gap"  #: a message is missing or the epoch changed: ask for a snapshot
    RESET = "reset"  #: a snapshot replaced the state


class State:
    """The model's exposed state as plain JSON, kept at ``(epoch, seq)``.

    Hand it every out message (:meth:`apply`) and every snapshot
    (:meth:`load`). Until the first snapshot it is not ``ready`` and every
    stream message is a gap. :attr:`schema` is the snapshot's schema (see
    ``docs/protocol.md``); :attr:`writable` maps each trait a client may write
    to its schema.
    """

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.seq: int = -1
        self.values: dict[str, Any] = {}
        self.schema: dict[str, Any] = {}
        self.writable: dict[str, dict[str, Any]] = {}
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
        self.values = copy.deepcopy(snapshot["state"])
        self.schema = copy.deepcopy(snapshot.get("schema", {}))
        self.writable = writable_traits(self.schema)
        self.page = snapshot.get("page", "")
        return Outcome.RESET

    def apply(self, message: dict[str, Any]) -> Outcome:
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
            apply_change(self.values, message)
        self.seq = message["seq"]
        return Outcome.APPLIED


def writable_traits(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The properties of a snapshot's schema that a client may write (those not ``readOnly``)."""
    properties = schema.get("properties", {})
    return {name: prop for name, prop in properties.items() if not prop.get("readOnly", False)}
