"""The desktop window for any model but the chat: a Traits UI view generated from the snapshot's schema.

Built once the first snapshot is in (the schema says what there is):

* the numeric lists as live Chaco line plots (:class:`~services.desktop.genplots.GenericPlots`);
* the scalars as read-only items with their titles; dicts, sets and other lists as
  read-only tables (a list's newest :data:`~services.desktop.generic.TABLE_ROWS` items first);
* a control per trait clients may write, sent through the desktop's input path
  (:meth:`Link.write`): a bounded number is a slider (with a text field), an enumeration
  a drop-down, a boolean a check box, a string or an unbounded number a text field
  (sent on Enter). A refused value (by the schema before sending, or by the model's
  validation after) shows beside the controls and in the status bar.

Like the chat's window, everything runs on the GUI thread: a pyface timer drains
the link's inbox every ``redraw_interval`` and refreshes the views once per tick.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from enable.api import ComponentEditor
from pyface.api import GUI
from traits.api import Any as AnyTrait
from traits.api import Bool, ComparisonMode, Enum, Float, HasTraits, Instance, Int, List, Str, Tuple
from traitsui.api import BooleanEditor, EnumEditor, Group, HGroup, Item, RangeEditor, TabularEditor, TextEditor, UItem
from traitsui.api import VGroup, View
from traitsui.tabular_adapter import TabularAdapter

from .config import DesktopSettings
from .generic import Field, GenericData
from .genplots import GenericPlots
from .link import Link
from .pump import LiveWindow

__all__ = ["Controls", "GenericWindow", "StateView", "control_for"]

log = logging.getLogger(__name__)


class _RowsAdapter(TabularAdapter):
    columns = [("Key", 0), ("Value", 1)]

    def get_width(self, object: Any, trait: str, column: int) -> float:
        return (80.0, 130.0)[column] if len(self.columns) == 2 else (60.0 if column == 0 else 110.0)


class _ItemsAdapter(TabularAdapter):
    columns = [("#", 0), ("Item", 1)]

    def get_width(self, object: Any, trait: str, column: int) -> float:
        return (40.0, 170.0)[column] if len(self.columns) == 2 else (40.0 if column == 0 else 110.0)


def _adapter(is_dict: bool, fields: list[str]) -> TabularAdapter:
    """The table's columns: key (or position) and value, or key and one column per field of its items."""
    adapter = _RowsAdapter() if is_dict else _ItemsAdapter()
    if fields:
        adapter.columns = [(adapter.columns[0][0], 0), *((name, i) for i, name in enumerate(fields, start=1))]
    return adapter


class StateView(HasTraits):
    """One read-only trait per scalar (its text) and per table (its rows); added from the fields."""

    def add_fields(self, fields: list[Field]) -> None:
        for field in fields:
            if field.kind == "scalar":
                self.add_trait(field.name, Str())
            elif field.kind == "table":
                self.add_trait(field.name, List(Tuple()))  # (key, value) or (key, one text per column)


def control_for(field: Field) -> tuple[Any, Any] | None:
    """The trait and editor of a writable field's control, or None if it has none here."""
    schema = field.schema
    kind = schema.get("type")
    default = schema.get("default")
    if "enum" in schema and schema["enum"]:
        values = list(schema["enum"])
        value = default if default in values else values[0]
        return Enum(value, values), EnumEditor(values=values)
    if kind == "boolean":
        return Bool(bool(default)), BooleanEditor()
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        number = Int if kind == "integer" else Float
        cast = int if kind == "integer" else float
        start = default if isinstance(default, (int, float)) else (low if low is not None else 0)
        # the trait itself is not bounded: a value typed out of range reaches the schema check and is shown refused
        trait = number(cast(start), comparison_mode=ComparisonMode.none)
        if low is not None and high is not None and all(math.isfinite(b) for b in (low, high)):
            return trait, RangeEditor(low=cast(low), high=cast(high), mode="slider")
        return trait, TextEditor(evaluate=cast, enter_set=True, auto_set=False)
    if kind == "string":
        return Str(str(default or ""), comparison_mode=ComparisonMode.none), TextEditor(enter_set=True, auto_set=False)
    return None


class Controls(HasTraits):
    """One trait per writable field; a change made by the desktop user is written through the link."""

    link = Instance(Link)
    #: the desktop user is in ``participants``: writes are welcome
    joined = Bool(False)
    #: the last refusal (the schema's before sending, or the model's error)
    problem = Str()
    fields = List(Instance(Field))
    editors = AnyTrait()
    _syncing = Bool(False)

    def add_fields(self, fields: list[Field]) -> None:
        self.editors = {}
        for field in fields:
            made = control_for(field) if field.writable else None
            if made is None:
                continue
            trait, editor = made
            self.add_trait(field.name, trait)
            self.editors[field.name] = editor
            self.fields.append(field)
            self.observe(self._write, field.name)

    def _write(self, event: Any) -> None:
        if self._syncing:
            return
        field = next(f for f in self.fields if f.name == event.name)
        if self.link.write(field.name, event.new):
            self.link.last_error = ""
            self.problem = ""
            if field.kind == "write" and isinstance(event.new, str):
                # a write-only text was sent: clear it for the next one, once its editor is done with this
                # change (an editor does not show a value set while it is setting one)
                GUI.invoke_later(self.show, field.name, "")
        else:
            self.problem = self.link.last_error

    def show(self, name: str, value: Any) -> None:
        """Set a control from the state without writing it back."""
        self._syncing = True
        try:
            setattr(self, name, value)
        except Exception:  # noqa: BLE001 - a state value the control cannot hold is not shown on it
            log.debug("control %s cannot show %r", name, value)
        finally:
            self._syncing = False


class GenericWindow(LiveWindow):
    """The generated window: plots, state and controls of whatever model the snapshot describes."""

    data = Instance(GenericData)
    plots = Instance(GenericPlots)
    state = Instance(StateView)
    controls = Instance(Controls)

    _error_label = "refused: "

    def __init__(self, link: Link, settings: DesktopSettings, **traits: Any) -> None:
        data = GenericData(model=link.model, rows=settings.latest_messages)
        data.refresh()
        plots = GenericPlots(data)
        state, controls = StateView(), Controls(link=link)
        state.add_fields(data.fields)
        controls.add_fields(data.fields)
        super().__init__(link=link, settings=settings, data=data, plots=plots, component=plots.component,
                         state=state, controls=controls, **traits)
        self._show(set(f.name for f in data.fields))

    def trait_context(self) -> dict[str, Any]:
        """The view's names: ``object`` (this window), ``state`` and ``controls``."""
        return {"object": self, "state": self.state, "controls": self.controls}

    # -- the GUI thread's pump --------------------------------------------------------
    def _refresh(self) -> None:
        self._show(self.data.refresh())
        self.joined = self.controls.joined = self.link.joined
        self.controls.problem = self.link.last_error

    def _show(self, changed: set[str]) -> None:
        data = self.data
        for field in data.fields:
            if field.name not in changed:
                continue
            if field.kind == "scalar":
                setattr(self.state, field.name, data.text(field.name))
            elif field.kind == "table":
                setattr(self.state, field.name, data.table(field.name))
            if field.name in self.controls.editors and field.kind != "write":
                self.controls.show(field.name, data.value(field.name))

    # -- the generated view -----------------------------------------------------------
    def default_traits_view(self) -> View:
        data = self.data
        scalars: list[Any] = [
            Item(f"state.{f.name}", id=f"state-{f.name}", label=f.title, style="readonly",
                 tooltip=f.schema.get("description", ""))
            for f in data.by_kind("scalar")
        ]
        tables: list[Any] = []
        for f in data.by_kind("table"):
            is_dict = f.schema.get("type") == "object"
            columns = data.columns(f.name)
            tables.append(Item(f"state.{f.name}", id=f"state-{f.name}", label=f.title, height=-160,
                               width=-(240 if not columns else min(720, 60 + 110 * len(columns))),
                               editor=TabularEditor(adapter=_adapter(is_dict, columns),
                                                    editable=False, stretch_last_section=False)))
        if not scalars and not tables:
            scalars.append(Item("status", style="readonly", label="State"))
        # the scalars keep their natural height; the tables take what is left
        state_group = VGroup(VGroup(*scalars), VGroup(*tables, springy=True), label="State", show_border=True)
        control_items = [
            Item(f"controls.{f.name}", id=f"control-{f.name}", label=f.title, editor=self.controls.editors[f.name],
                 enabled_when="controls.joined", tooltip=f.schema.get("description", ""))
            for f in self.controls.fields
        ]
        if control_items:
            control_items.append(Item("controls.problem", id="problem", style="readonly", label="Refused",
                                      visible_when="controls.problem"))
            controls_group: Group = VGroup(*control_items, label="Your controls", show_border=True)
        else:
            controls_group = VGroup(label="Nothing here for clients to write", show_border=True)
        if self.plots.plots:
            body = HGroup(UItem("component", editor=ComponentEditor(), width=720, height=560),
                          VGroup(state_group, controls_group))
        else:
            body = VGroup(state_group, controls_group)
        return View(body, title="traitsweb desktop", resizable=True, width=1240, height=780, statusbar="status")

