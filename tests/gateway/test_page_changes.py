"""The browser client's change application (static/traitsweb.js, which every page uses) on the change
vectors traitsweb.state is held to.

No stack: the module is loaded into a blank headless Chromium page and its ``applyChange`` runs on each vector;
its ``localize`` (list changes with absolute indices on a truncated list) is held to ``traitsweb.state.localize``.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.stack import ROOT
from tests.gateway.test_browser import browser  # noqa: F401 - the fixture
from traitsweb.state import localize

pytestmark = pytest.mark.browser

CLIENT_JS = ROOT / "services" / "gateway" / "static" / "traitsweb.js"
CHANGES = json.loads((Path(__file__).parents[1] / "unit" / "changes.json").read_text())
APPLY = """(cases) => cases.map((c) => {
  const state = c.before === null ? {} : { t: structuredClone(c.before) };
  applyChange(state, { type: "trait_change", trait: "t", ...c.change });
  return state;
})"""


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:  # noqa: F811 - the shared fixture
    page = browser.new_page()
    page.set_content("<!doctype html><title>changes</title>")
    page.add_script_tag(content=CLIENT_JS.read_text() + "\nwindow.applyChange = applyChange; window.localize = localize;", type="module")
    page.wait_for_function("() => typeof window.applyChange === 'function' && typeof window.localize === 'function'")
    yield page
    page.close()


@pytest.mark.parametrize("case", CHANGES, ids=[c["why"] for c in CHANGES])
def test_the_page_applies_each_change_as_the_library_does(page: Any, case: dict[str, Any]) -> None:
    (state,) = page.evaluate(APPLY, [case])
    assert state == {"t": case["after"]}


LOCALIZE = """([offsets, changes]) => changes.map((c) => [localize(c, offsets), { ...offsets }])"""


def test_the_page_localizes_list_changes_as_the_library_does(page: Any) -> None:
    rng = random.Random(15)
    length, changes = 60, []
    for step in range(300):
        kind = rng.random()
        if kind < 0.3:
            change = {"op": "list", "index": length, "removed": 0, "added": [step]}
        elif kind < 0.4:
            change = {"op": "list", "index": 0, "removed": min(length, rng.randint(1, 2)), "added": []}
        else:
            index = rng.randint(0, length)
            change = {"op": "list", "index": index, "removed": min(length - index, rng.randint(0, 6)),
                      "added": [step] * rng.randint(0, 2)}
        changes.append({"type": "trait_change", "trait": "t", **change})
        length += len(change["added"]) - change["removed"]
    changes.append({"type": "trait_change", "trait": "t", "op": "set", "value": [0]})  # whole again
    offsets = {"t": 40}
    expected, straddles = [], 0
    for change in copy.deepcopy(changes):
        before = offsets.get("t", 0)
        straddles += change["op"] == "list" and change["index"] < before <= change["index"] + change["removed"]
        local = localize(change, offsets)
        expected.append([local, dict(offsets)])
    assert straddles >= 3 and not expected[-1][1]  # every rule is exercised: inside, before, and reaching into the part held
    assert page.evaluate(LOCALIZE, [{"t": 40}, changes]) == expected
