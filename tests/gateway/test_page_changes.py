"""The browser client's change application (static/traitsweb.js, which every page uses) on the change
vectors traitsweb.state is held to.

No stack: the module is loaded into a blank headless Chromium page and its ``applyChange`` runs on each vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.stack import ROOT
from tests.gateway.test_browser import browser  # noqa: F401 - the fixture

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
    page.add_script_tag(content=CLIENT_JS.read_text() + "\nwindow.applyChange = applyChange;", type="module")
    page.wait_for_function("() => typeof window.applyChange === 'function'")
    yield page
    page.close()


@pytest.mark.parametrize("case", CHANGES, ids=[c["why"] for c in CHANGES])
def test_the_page_applies_each_change_as_the_library_does(page: Any, case: dict[str, Any]) -> None:
    (state,) = page.evaluate(APPLY, [case])
    assert state == {"t": case["after"]}
