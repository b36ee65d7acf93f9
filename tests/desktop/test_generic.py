"""The generated desktop view's data side, without a broker or a GUI, on real protocol messages.

The messages come from the real instrument and counter models through ``traitsweb.bridge``,
numbered as the model service numbers them, and pass through JSON as they do on the wire.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from examples.instrument import create as create_instrument
from services.desktop.generic import GenericData, fields_of, view_kind
from services.desktop.genplots import GenericPlots
from services.desktop.model import DesktopModel
from services.desktop.plots import render_png
from services.model.chat import Chat
from tests.models.counter import create as create_counter
from traitsweb import protocol
from traitsweb.bridge import Bridge, SharedModel


class Served:
    """A shared model and its bridge, emitting numbered out messages like the model service."""

    def __init__(self, model: SharedModel) -> None:
        self.model = model
        self.seq = 0
        self.out: list[dict[str, Any]] = []
        self.bridge = Bridge(model, self._emit)

    def _emit(self, change: dict[str, Any]) -> None:
        self.seq += 1
        self.out.append(protocol.out_message(change.pop("type"), "epoch-1", self.seq, **change))

    def snapshot(self) -> dict[str, Any]:
        message = protocol.out_message("snapshot", "epoch-1", self.seq, state=self.bridge.state(),
                                       schema=self.bridge.schema, page=type(self.model).page)
        return json.loads(protocol.encode(message))

    def take(self) -> list[dict[str, Any]]:
        out, self.out = self.out, []
        return json.loads(protocol.encode(out))


def test_the_snapshot_chooses_the_view() -> None:
    chat, counter = Served(Chat()), Served(create_counter())
    desktops = {name: DesktopModel() for name in ("chat", "counter")}
    desktops["chat"].apply(chat.snapshot())
    desktops["counter"].apply(counter.snapshot())
    assert view_kind(desktops["chat"]) == ("chat",)
    kind = view_kind(desktops["counter"])
    assert kind == ("generic", (("colour", "write"), ("colours", "table"), ("history", "numbers"),
                                ("increment", "write"), ("total", "scalar")))


def test_fields_follow_the_schema_kinds_titles_and_order() -> None:
    instrument = Served(create_instrument())
    fields = {f.name: f for f in fields_of(instrument.bridge.schema)}
    assert {n: f.kind for n, f in fields.items()} == {
        "mode": "scalar", "readings": "numbers", "running": "scalar", "samples": "scalar",
        "setpoint": "scalar", "statistics": "table"}
    assert fields["setpoint"].title == "Setpoint" and fields["setpoint"].writable
    assert not fields["samples"].writable and not fields["readings"].writable


def test_a_rolling_numeric_list_is_spliced_into_its_plot_arrays() -> None:
    served = Served(create_instrument())
    instrument = served.model
    for _ in range(20):
        instrument.sample()
    desktop = DesktopModel()
    desktop.apply(served.snapshot())
    served.take()
    data = GenericData(model=desktop)
    assert data.refresh() == {f.name for f in data.fields}
    assert data.plot_data.get_data("readings:y").tolist() == instrument.readings

    for _ in range(instrument.keep + 30):  # past ``keep``: each reading also drops the oldest one
        instrument.sample()
    instrument.statistics.update({"mean": 1.5, "max": 2.0})
    for message in served.take():
        desktop.apply(message)
    assert data.refresh() == {"readings", "samples", "statistics"}
    x, y = data.plot_data.get_data("readings:x"), data.plot_data.get_data("readings:y")
    assert y.tolist() == instrument.readings and len(y) == instrument.keep
    # item numbers go on counting as the oldest are dropped: the plot scrolls
    assert x.tolist() == list(range(50, 50 + instrument.keep))
    assert data.text("samples") == str(instrument.samples)
    assert data.table("statistics") == [("max", "2"), ("mean", "1.5")]
    assert data.refresh() == set()  # nothing new: nothing to redraw


def test_headless_plots_draw_the_lines_and_the_texts(tmp_path: Path) -> None:
    served = Served(create_instrument())
    for _ in range(120):
        served.model.sample()
    desktop = DesktopModel()
    desktop.apply(served.snapshot())
    data = GenericData(model=desktop)
    data.refresh()
    plots = GenericPlots(data, texts=True)
    assert "Samples: 120" in plots.panel.lines and "Mode: steady" in plots.panel.lines
    render_png(plots.component, tmp_path / "generic.png")
    rgb = np.asarray(Image.open(tmp_path / "generic.png").convert("RGB")).astype(int)
    line = (np.abs(rgb - np.array((0x4C, 0x72, 0xB0))).sum(axis=2) < 60)
    dark = rgb.sum(axis=2) < 200
    height = rgb.shape[0]
    assert line[height // 3:].sum() > 300  # the readings' line, below the panel
    assert dark[: height // 4].sum() > 200  # the panel's text, on top


def test_a_dict_of_objects_is_a_table_with_a_column_per_field() -> None:
    from examples.taskboard import create as create_taskboard

    served = Served(create_taskboard())
    board = served.model
    board.add("s1", "write the report #docs #urgent")
    desktop = DesktopModel()
    desktop.apply(served.snapshot())
    data = GenericData(model=desktop)
    data.refresh()
    assert data.columns("tasks") == ["by", "done", "done_at", "tags", "title"]
    assert data.table("tasks") == [("t1", "?", "no", "0", "docs, urgent", "write the report")]
    board.complete("t1")
    for message in served.take():
        desktop.apply(message)
    data.refresh()
    assert data.table("tasks")[0][2] == "yes"
    assert data.columns("created") == [] and data.columns("tags") == []
