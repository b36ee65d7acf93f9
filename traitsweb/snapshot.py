"""A bounded snapshot: the current state with only the latest part of its long lists.

A snapshot (on the broker, in ``/api/state`` and in a reset reply) carries
every trait, but a list that would make it larger than the maximum
(``TRAITSWEB_SNAPSHOT_MAX_BYTES``) loses its oldest items: the snapshot says,
per such list, how many older items exist (``"truncated": {"messages": 9700}``:
the state's ``messages`` holds the items from absolute index 9700 on). List
changes keep their absolute indices; :func:`traitsweb.state.localize` applies
them to a truncated list. See ``docs/protocol.md``.
"""

from __future__ import annotations

from typing import Any

from traitsweb import protocol

__all__ = ["DEFAULT_MAX_BYTES", "bound_state", "encoded_size"]

#: the default maximum snapshot body (UTF-8 bytes of its JSON)
DEFAULT_MAX_BYTES = 256 * 1024


def encoded_size(value: Any) -> int:
    """Bytes of ``value``'s wire encoding."""
    return len(protocol.encode(value).encode("utf-8", "surrogatepass"))


def bound_state(
    values: dict[str, Any], budget: int, offsets: dict[str, int] | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """``values`` encoded in at most ``budget`` bytes (with its ``truncated`` map), and that map.

    Lists that do not fit keep their newest items; the budget is shared among them, the
    shortest first (what a short list does not use goes to the longer ones). ``offsets``
    are the absolute indices the lists of ``values`` already start at (a replica's
    truncated state); the map returned counts from the list's absolute start. Costs
    O(items kept + what is not a list), never O(state): a list's oldest items are never
    encoded. If the values that are not lists alone exceed the budget, every list is
    emptied and the result is still over it (the caller says so).
    """
    offsets = offsets or {}
    lists = {name: value for name, value in values.items() if isinstance(value, list) and value}
    held = {name: count for name, count in offsets.items() if count}
    if not lists:
        return values, held
    # what is not a list item, then each list's newest items while they fit: never the whole state
    remaining = budget - encoded_size({**values, **dict.fromkeys(lists, [])}) - _reserve(lists.keys() | held.keys())
    kept: dict[str, list[Any]] = {}
    order = sorted(lists, key=lambda name: len(lists[name]))
    for position, name in enumerate(order):
        share = max(0, remaining) // (len(order) - position)
        items, used, count = lists[name], 0, 0
        for item in reversed(items):
            cost = encoded_size(item) + 1  # the item and its comma
            if used + cost > share:
                break
            used += cost
            count += 1
        remaining -= used
        if count < len(items):
            kept[name] = items[len(items) - count :]
    if not kept:
        return values, held
    truncated = dict(held)
    for name, items in kept.items():
        truncated[name] = offsets.get(name, 0) + len(lists[name]) - len(items)
    return {**values, **kept}, truncated


def _reserve(names: Any) -> int:
    """An upper bound of the ``"truncated"`` member's bytes for these list names."""
    return 16 + sum(encoded_size(name) + 22 for name in names)
