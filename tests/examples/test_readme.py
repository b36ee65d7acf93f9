"""The model in the README's "Serve your own model", exactly as written there, served by the model service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.stack import ROOT
from tests.inprocess import Served
from traitsweb.background import Scheduler, start_model
from traitsweb.factory import load_model


def readme_model() -> str:
    blocks = re.findall(r"```python\n(# thermostat\.py\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "the README's thermostat example is gone"
    return blocks[0]


def test_the_readme_model_is_served_and_changes_by_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = readme_model()
    assert len([line for line in code.splitlines() if line.strip()]) <= 22  # "a 20-line model"
    (tmp_path / "thermostat.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    served = Served(load_model("thermostat:Thermostat"), tmp_path / "data")
    try:
        now = [0.0]
        scheduler = Scheduler(served.service.apply_background, clock=lambda: now[0])
        assert start_model(served.model, scheduler)
        session = served.login("ann")
        served.write(session, "target", 25.0)
        refused = served.write(session, "target", 99)
        for _ in range(3):
            now[0] += 1.0
            scheduler.run_due()
        served.follow()
        state = served.mirror.values
        assert state["target"] == 25.0 and state["history"] == [16.0, 16.9, 17.71] and state["temperature"] == 17.71
        error = next(m for m in served.published if m["type"] == "error")
        assert error["msg_id"] == refused and error["code"] == "invalid_value"
    finally:
        served.close()
