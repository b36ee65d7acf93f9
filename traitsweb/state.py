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

A snapshot may hold only the latest part of a long list (``truncated``: trait
-> how many older items it left out; see ``traitsweb.snapshot``). List changes
carry absolute indices, so a holder of such a list keeps its *offset* (the
absolute index of its first item) and :func:`localize` turns each change into
the change of the part it holds.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import MutableMapping
from typing import Any

__all__ = ["Outcome", "State", "apply_change", "localize", "writable_traits"]


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


def localize(change: dict[str, Any], offsets: dict[str, int]) -> dict[str, Any]:
    """``change`` as it applies to lists that hold items from ``offsets[trait]`` on (absent: 0).

    Updates ``offsets``: a ``set`` of the whole value starts the list at 0 again; a ``list``
    change before the part held only moves the offset (e.g. the oldest items dropped at a
    history cap); one that reaches into the held part replaces its head, and the items it adds
    become the held part's first. Other changes are returned as they are.
    """
    trait = change["trait"]
    if change["op"] == "set":
        offsets.pop(trait, None)
        return change
    offset = offsets.get(trait, 0)
    if change["op"] != "list" or offset == 0:
        return change
    index, removed, added = change["index"], change["removed"], change["added"]
    if index >= offset:
        return {**change, "index": index - offset}
    if index + removed >= offset:
        local = {**change, "index": 0, "removed": index + removed - offset}
        new_offset = index
    else:
        local = {**change, "index": 0, "removed": 0, "added": []}
        new_offset = offset + len(added) - removed
    if new_offset:
        offsets[trait] = new_offset
    else:
        offsets.pop(trait, None)
    return local


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
        #: per list trait held only from an absolute index on (a truncated snapshot), that index
        self.offsets: dict[str, int] = {}
        #: the last change :meth:`apply` applied, as applied to the values held (see :func:`localize`)
        self.applied: dict[str, Any] | None = None

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
        self.offsets = {name: count for name, count in snapshot.get("truncated", {}).items() if count}
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
        self.applied = None
        if message["type"] == "trait_change":
            self.applied = localize(message, self.offsets)
            apply_change(self.values, self.applied)
        self.seq = message["seq"]
        return Outcome.APPLIED


def writable_traits(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The properties of a snapshot's schema that a client may write (those not ``readOnly``)."""
    properties = schema.get("properties", {})
    return {name: prop for name, prop in properties.items() if not prop.get("readOnly", False)}
