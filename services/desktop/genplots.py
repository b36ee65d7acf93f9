"""Chaco components for any model: a line plot per numeric list, and a panel of texts for PNGs.

:class:`GenericPlots` stacks one ``Plot`` per numeric list of a
:class:`~services.desktop.generic.GenericData` (they draw from its
``ArrayPlotData``, so an update there redraws them). With ``texts=True``
(headless PNGs, which have no Traits UI items) a :class:`TextPanel` above
them lists the scalars and tables, drawn with kiva text.
"""

from __future__ import annotations

from typing import Any

from chaco.api import Plot, PlotComponent, VPlotContainer
from enable.api import Component
from enable.trait_defs.api import KivaFont
from traits.api import Bool, Float, HasStrictTraits, Instance, Int, List, Str, Tuple, observe

from .generic import GenericData
from .plots import COLORS

__all__ = ["GenericPlots", "TextPanel"]

_FONT = "DejaVu Sans 11"
_TITLE_FONT = "DejaVu Sans 13"
_LINE = "#4c72b0"


class TextPanel(PlotComponent):
    """Lines of text, top down (kiva text: it draws headless, with celiagg, like the plots)."""

    lines = List(Str)
    title = Str()
    font = KivaFont(_FONT)
    title_font = KivaFont(_TITLE_FONT)
    line_height = Float(18.0)
    margin = Int(12)
    color = Tuple((0.1, 0.1, 0.1, 1.0))
    bgcolor = "white"

    def _draw_plot(self, gc: Any, view_bounds: Any = None, mode: str = "normal") -> None:
        with gc:
            gc.set_fill_color(self.color)
            x = self.x + self.margin
            y = self.y + self.height - self.margin - self.line_height
            if self.title:
                gc.set_font(self.title_font)
                gc.show_text_at_point(self.title, x, y)
                y -= self.line_height * 1.4
            gc.set_font(self.font)
            for line in self.lines:
                if y < self.y:
                    break
                gc.show_text_at_point(line, x, y)
                y -= self.line_height

    @observe("lines, title")
    def _redraw(self, event: Any) -> None:
        self.request_redraw()


class GenericPlots(HasStrictTraits):
    """One line plot per numeric list of ``data``, stacked (the first on top), optionally under a text panel."""

    data = Instance(GenericData)
    texts = Bool(False)
    component = Instance(Component)
    #: list name -> its plot
    plots = Instance(dict, ())
    panel = Instance(TextPanel)

    def __init__(self, data: GenericData, **traits: Any) -> None:
        super().__init__(data=data, **traits)
        parts: list[Component] = []
        for field in data.by_kind("numbers"):
            plot = Plot(data.plot_data)
            plot.plot((f"{field.name}:x", f"{field.name}:y"), type="line", color=_LINE, line_width=2.0,
                      name=field.name)
            plot.title = field.title
            plot.title_font = _TITLE_FONT
            plot.padding = (70, 30, 40, 50)
            plot.bgcolor = COLORS["background"]
            plot.border_visible = False
            plot.x_axis.title = "item number"
            plot.y_axis.title = field.title
            for axis in (plot.x_axis, plot.y_axis):
                axis.title_font = axis.tick_label_font = _FONT
            plot.x_grid.visible = False
            plot.y_grid.line_color = (0.88, 0.88, 0.88, 1.0)
            plot.fixed_preferred_size = (1000, 300)
            self.plots[field.name] = plot
            parts.insert(0, plot)
        if self.texts or not parts:
            self.panel = TextPanel(title="State")
            lines = 2 + len(data.by_kind("scalar")) + len(data.by_kind("table"))
            self.panel.fixed_preferred_size = (1000, max(80, int(min(lines, 16) * 18 + 30)))
            parts.append(self.panel)
            self.show_texts()
        # VPlotContainer stacks from the bottom up: the panel on top, then the plots in field order
        self.component = VPlotContainer(*parts, bgcolor=COLORS["background"], spacing=10, padding=10)

    def show_texts(self) -> None:
        """Refresh the text panel from the data (the owner calls it after :meth:`GenericData.refresh`)."""
        if self.panel is None:
            return
        data = self.data
        lines = [f"{f.title}: {data.text(f.name)}" for f in data.by_kind("scalar")]
        for f in data.by_kind("table"):
            rows = data.table(f.name)
            shown = ", ".join(f"{k} = {' · '.join(v)}" if f.schema.get("type") == "object" else " · ".join(v)
                              for k, *v in rows[:8])
            lines.append(f"{f.title}: {shown or '(empty)'}" + (" …" if len(rows) > 8 else ""))
        for name, (x, y) in ((n, data.series(n)) for n in self.plots):
            if len(y):
                lines.append(f"{_title(data, name)}: {len(y)} items, last {y[-1]:.6g}")
        model = data.model
        if model is not None and model.ready:
            lines.append(f"seq {model.seq}")
        self.panel.lines = lines


def _title(data: GenericData, name: str) -> str:
    return next((f.title for f in data.fields if f.name == name), name)
