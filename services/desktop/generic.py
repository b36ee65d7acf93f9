"""Any model's state, read through the snapshot's schema: fields, texts, and arrays for line plots.

The chat has its own dashboard (``plotdata``/``plots``); every other model is
shown from the schema its snapshot carries (``docs/protocol.md``). Each
property is one :class:`Field` of a kind:

* ``scalar``: a number, string, boolean or enumeration, shown as text;
* ``numbers``: a list of numbers (``items.type`` integer/number), a line plot;
* ``table``: a dict, a set or any other list, shown as rows (a list's newest first);
* ``write``: write-only (a handler trait clients set that is not part of the state).

:class:`GenericData` follows a :class:`DesktopModel`: each applied
``trait_change`` marks its field, and a list change of a numeric list is
spliced into that list's numpy array (one reading appended and the oldest
dropped are two small splices, not a rebuild). :meth:`GenericData.refresh`,
called by the owner after a batch, hands the arrays that changed to the
``ArrayPlotData`` the plots draw from. The x values are item numbers that
keep counting when items are dropped at the front, so a rolling window scrolls.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from chaco.array_plot_data import ArrayPlotData
from traits.api import Any as AnyTrait
from traits.api import Dict, HasStrictTraits, Instance, Int, List, Set, Str, observe

from .model import DesktopModel

__all__ = ["Field", "GenericData", "fields_of", "format_value", "view_kind"]

#: rows a table shows (a list's newest ones)
TABLE_ROWS = 50


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "scalar" | "numbers" | "table" | "write"
    title: str
    schema: dict[str, Any]
    #: clients may write it (not ``readOnly``)
    writable: bool


def _kind(prop: dict[str, Any]) -> str:
    if prop.get("writeOnly"):
        return "write"
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        if items.get("type") in ("integer", "number") and not prop.get("uniqueItems"):
            return "numbers"
        return "table"
    if kind == "object":
        return "table"
    return "scalar"  # a number, string, boolean, enumeration, or any JSON shown as text


def fields_of(schema: dict[str, Any]) -> list[Field]:
    """The schema's properties in display order (``x-order``, then name); ``participants`` is left out."""
    properties = schema.get("properties", {})
    names = sorted((n for n in properties if n != "participants" and n.isidentifier()),
                   key=lambda n: (properties[n].get("x-order", math.inf), n))
    return [Field(name=n, kind=_kind(properties[n]), title=str(properties[n].get("title") or n.replace("_", " ")),
                  schema=properties[n], writable=not properties[n].get("readOnly", False)) for n in names]


def view_kind(model: DesktopModel) -> tuple[Any, ...]:
    """Which view a model's snapshot asks for: the chat's dashboard (``page == "chat"``), or one of its fields."""
    if model.page == "chat":
        return ("chat",)
    return ("generic", tuple((f.name, f.kind) for f in fields_of(model.schema)))


def format_value(value: Any) -> str:
    """One value as a short text (a float to 6 significant digits; a list of scalars as its items; other
    containers as compact JSON)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, list) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        text = ", ".join(format_value(v) for v in value)  # a list of scalars: its items
        return text if len(text) <= 120 else text[:119] + "…"
    text = json.dumps(value, separators=(", ", ": "), sort_keys=True)
    return text if len(text) <= 120 else text[:119] + "…"


def _numbers(values: list[Any]) -> np.ndarray:
    return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                     for v in values], dtype=float)


class GenericData(HasStrictTraits):
    """The texts, rows and plot arrays of any model's state, from a :class:`DesktopModel`."""

    model = Instance(DesktopModel)
    rows = Int(TABLE_ROWS)

    #: the fields of the last snapshot's schema
    fields = List(Instance(Field))
    #: ``<name>:x`` and ``<name>:y`` for each numeric list
    plot_data = Instance(ArrayPlotData, ())
    #: bumped by every refresh that changed something
    version = Int(0)

    #: numeric list name -> its values, and how many items were dropped at its front
    _arrays = Dict(Str, AnyTrait)
    _offsets = Dict(Str, Int)
    _dirty = Set(Str)
    _known_snapshots = Int(-1)

    def by_kind(self, kind: str) -> list[Field]:
        return [f for f in self.fields if f.kind == kind]

    def value(self, name: str) -> Any:
        return self.model.values.get(name) if self.model else None

    def text(self, name: str) -> str:
        return format_value(self.value(name))

    def columns(self, name: str) -> list[str]:
        """The fields of a table's items when its schema says they are objects (a column each), else []."""
        field = next((f for f in self.fields if f.name == name), None)
        if field is None:
            return []
        items = field.schema.get("additionalProperties" if field.schema.get("type") == "object" else "items", {})
        return sorted(items.get("properties", {})) if isinstance(items, dict) else []

    def table(self, name: str) -> list[tuple[str, ...]]:
        """A dict as (key, value) rows sorted by key; a list or set as (position, item), newest first; items
        that are objects as (key, one text per :meth:`columns`)."""
        value = self.value(name)
        columns = self.columns(name)

        def row(key: Any, item: Any) -> tuple[str, ...]:
            if columns and isinstance(item, dict):
                return (str(key), *(format_value(item.get(c)) for c in columns))
            return (str(key), format_value(item))

        if isinstance(value, dict):
            return [row(k, value[k]) for k in sorted(value)[: self.rows]]
        if isinstance(value, list):
            start = max(0, len(value) - self.rows)
            return [row(i, value[i]) for i in range(len(value) - 1, start - 1, -1)]
        return [] if value is None else [("", format_value(value))]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A numeric list's (item numbers, values)."""
        values = self._arrays.get(name, np.zeros(0))
        offset = self._offsets.get(name, 0)
        return np.arange(offset, offset + len(values), dtype=float), values

    # -- following the model ---------------------------------------------------------
    @observe("model:snapshots")
    def _reload(self, event: Any) -> None:
        self._load()

    @observe("model:changed")
    def _on_change(self, event: Any) -> None:
        message = event.new
        name = message["trait"]
        self._dirty.add(name)
        if name not in self._arrays:
            return
        if message["op"] == "list":
            index, removed, added = message["index"], message["removed"], message["added"]
            values = self._arrays[name]
            if index == 0 and not added:
                self._offsets[name] += removed  # dropped at the front: the item numbers go on
            self._arrays[name] = np.concatenate((values[:index], _numbers(added), values[index + removed:]))
        else:
            self._arrays[name] = _numbers(self.value(name) or [])
            self._offsets[name] = 0

    def _load(self) -> None:
        if self.model is None or not self.model.ready:
            return
        self._known_snapshots = self.model.snapshots
        self.fields = fields_of(self.model.schema)
        self._arrays = {f.name: _numbers(self.value(f.name) or []) for f in self.by_kind("numbers")}
        self._offsets = {name: 0 for name in self._arrays}
        self._dirty = {f.name for f in self.fields}

    def refresh(self) -> set[str]:
        """Hand what changed since the last refresh to the plot data; the names of the fields that changed."""
        if self.model is not None and self.model.ready and self._known_snapshots != self.model.snapshots:
            self._load()
        changed, self._dirty = set(self._dirty), set()
        arrays = {}
        for name in changed & set(self._arrays):
            x, y = self.series(name)
            arrays[f"{name}:x"], arrays[f"{name}:y"] = x, y
        if arrays:
            self.plot_data.update_data(**arrays)
        if changed:
            self.version += 1
        return changed
