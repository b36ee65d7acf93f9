"""The desktop's Chaco plots (one component for the window and for the PNGs).

* top left: a bar plot of the connection ratings (participants per rating 1..5);
* top right: a bar plot of each participant's rating, labelled with their names;
* bottom: a line plot over time: messages per interval (left axis) and the
  average rating (right axis, 0..5).

:func:`render_png` draws the component off-screen with Chaco's
``PlotGraphicsContext`` (no display needed) and writes the file atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chaco.api import (
    HPlotContainer,
    LabelAxis,
    OverlayPlotContainer,
    Plot,
    PlotGraphicsContext,
    VPlotContainer,
)
from chaco.ticks import ShowAllTickGenerator
from enable.api import Component
from traits.api import HasStrictTraits, Instance, observe

from .plotdata import ChatPlotData

__all__ = ["ChatPlots", "render_png", "COLORS"]

COLORS = {
    "ratings": "#4c72b0",
    "participants": "#55a868",
    "messages": "#4c72b0",
    "average": "#dd8452",
    "background": "white",
}
_FONT = "DejaVu Sans 11"
_TITLE_FONT = "DejaVu Sans 13"


def _style(plot: Plot, title: str, x_title: str, y_title: str) -> None:
    plot.title = title
    plot.title_font = _TITLE_FONT
    plot.padding = (60, 75, 40, 50)  # left, right, top, bottom
    plot.bgcolor = COLORS["background"]
    plot.border_visible = False
    for axis, name in ((plot.x_axis, x_title), (plot.y_axis, y_title)):
        axis.title = name
        axis.title_font = _FONT
        axis.tick_label_font = _FONT
    plot.x_grid.visible = False
    plot.y_grid.line_color = (0.88, 0.88, 0.88, 1.0)


class ChatPlots(HasStrictTraits):
    """The three plots of :class:`ChatPlotData`, laid out in one component."""

    data = Instance(ChatPlotData)
    component = Instance(Component)
    ratings = Instance(Plot)
    participants = Instance(Plot)
    activity = Instance(Plot)
    average = Instance(Plot)
    _names_axis = Instance(LabelAxis)

    def __init__(self, data: ChatPlotData, **traits: Any) -> None:
        super().__init__(data=data, **traits)
        pd = data.plot_data
        self.ratings = self._ratings_plot(pd)
        self.participants = self._participants_plot(pd)
        self.activity, self.average = self._activity_plots(pd)
        top = HPlotContainer(self.ratings, self.participants, bgcolor=COLORS["background"], spacing=10)
        bottom = OverlayPlotContainer(self.activity, self.average, bgcolor=COLORS["background"])
        # stacked containers share space in proportion to the preferred sizes (the top row's is
        # the sum of its plots'; a fixed one on a stacked container trips a Traits warning in enable)
        self.ratings.fixed_preferred_size = (450, 400)
        self.participants.fixed_preferred_size = (550, 400)
        bottom.fixed_preferred_size = (1000, 300)
        # VPlotContainer stacks from the bottom up
        self.component = VPlotContainer(bottom, top, bgcolor=COLORS["background"], spacing=10, padding=10)
        self._show_names(None)
        self._scale_counts(None)
        self._scale_activity(None)

    @staticmethod
    def _ratings_plot(pd: Any) -> Plot:
        plot = Plot(pd)
        plot.plot(("rating_levels", "rating_counts"), type="bar", bar_width=0.7,
                  fill_color=COLORS["ratings"], line_color=COLORS["ratings"], name="ratings")
        _style(plot, "Connection ratings", "rating", "participants")
        plot.index_range.set_bounds(0.4, 5.6)
        plot.x_axis.tick_interval = 1.0
        return plot

    def _participants_plot(self, pd: Any) -> Plot:
        plot = Plot(pd)
        plot.plot(("participant_index", "participant_ratings"), type="bar", bar_width=0.6,
                  fill_color=COLORS["participants"], line_color=COLORS["participants"], name="participants")
        _style(plot, "Rating per participant", "", "rating")
        plot.value_range.set_bounds(0, 5.5)
        plot.y_axis.tick_interval = plot.y_grid.grid_interval = 1.0
        self._names_axis = LabelAxis(plot, orientation="bottom", tick_label_font=_FONT,
                                     positions=[], labels=[], tick_label_rotate_angle=0)
        plot.underlays.remove(plot.x_axis)
        plot.x_axis = self._names_axis
        plot.underlays.append(self._names_axis)
        return plot

    @staticmethod
    def _activity_plots(pd: Any) -> tuple[Plot, Plot]:
        activity = Plot(pd)
        messages = activity.plot(("bucket_times", "messages_per_bucket"), type="line",
                                 color=COLORS["messages"], line_width=2.5, name="messages")[0]
        _style(activity, "Activity", "seconds from now", "messages per interval")
        # the average rating: an overlaid plot sharing the time axis, its own axis on the right
        average = Plot(pd)
        avg = average.plot(("bucket_times", "average_per_bucket"), type="line",
                           color=COLORS["average"], line_width=2.5, name="average")[0]
        # markers too: a single known interval draws no line
        average.plot(("bucket_times", "average_per_bucket"), type="scatter", color=COLORS["average"],
                     outline_color=COLORS["average"], marker="circle", marker_size=3, name="average-points")
        average.index_range = activity.index_range
        average.padding = activity.padding
        average.bgcolor = "transparent"
        average.border_visible = False
        average.value_range.set_bounds(0, 6.8)  # headroom for the legend
        average.x_axis.visible = False
        average.x_grid.visible = False
        average.y_grid.visible = False
        average.y_axis.orientation = "right"
        average.y_axis.title = "average rating"
        average.y_axis.title_spacing = 30
        average.y_axis.title_font = _FONT
        average.y_axis.tick_label_font = _FONT
        average.y_axis.tick_generator = ShowAllTickGenerator(positions=[0, 1, 2, 3, 4, 5])
        average.legend.plots = {"messages per interval": messages, "average rating": avg}
        average.legend.visible = True
        average.legend.align = "ul"
        average.legend.font = _FONT
        average.legend.bgcolor = (1.0, 1.0, 1.0, 0.85)
        return activity, average

    @observe("data:rating_counts")
    def _scale_counts(self, event: Any) -> None:
        # whole participants only: 0 to a little above the tallest bar
        top = max(1.0, float(self.data.rating_counts.max(initial=0)))
        self.ratings.value_range.set_bounds(0, top * 1.12)
        self.ratings.y_axis.tick_interval = self.ratings.y_grid.grid_interval = float(max(1, round(top / 5)))

    @observe("data:messages_per_bucket")
    def _scale_activity(self, event: Any) -> None:
        top = max(1.0, float(self.data.messages_per_bucket.max(initial=0)))
        self.activity.value_range.set_bounds(0, top * 1.4)  # headroom for the legend
        self.activity.y_axis.tick_interval = self.activity.y_grid.grid_interval = float(max(1, round(top / 5)))

    @observe("data:participant_names")
    def _show_names(self, event: Any) -> None:
        names = list(self.data.participant_names)
        self._names_axis.positions = [float(i) for i in range(1, len(names) + 1)]
        self._names_axis.labels = [n if len(n) <= 12 else n[:11] + "…" for n in names]
        if names:
            self.participants.index_range.set_bounds(0.4, len(names) + 0.6)
        else:
            self.participants.index_range.set_bounds(0.4, 1.6)
        self.participants.request_redraw()


def render_png(component: Component, path: Path, size: tuple[int, int] = (1000, 700)) -> None:
    """Draw ``component`` at ``size`` into a PNG at ``path``, replacing it atomically."""
    component.outer_bounds = list(size)
    component.do_layout(force=True)
    # Chaco adds a pixel each way so that edges at the bounds are drawn; ask for one less
    gc = PlotGraphicsContext((size[0] - 1, size[1] - 1), dpi=72)
    gc.clear((1.0, 1.0, 1.0, 1.0))  # the buffer starts transparent black
    gc.render_component(component)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    gc.save(str(tmp), file_format="png")
    os.replace(tmp, path)
