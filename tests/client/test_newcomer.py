"""The README's thermostat, as a newcomer uses it: the file copied from the README into a directory of their
own, ``traitsweb serve thermostat:Thermostat`` run there, then the model live in a browser page (generated),
in a Traits UI window through ``RemoteModel`` and in a notebook, with no other code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.stack import ROOT, free_port
from tests.client.test_notebook import KERNEL, jupyter_home
from tests.conftest import BASE_URL
from tests.examples.test_readme import readme_model
from tests.gateway.test_browser import browser, open_chat  # noqa: F401 - the fixture
from tests.gateway.test_generated_page import move_slider
from tests.serving import serving
from traitsweb.client import RemoteModel

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.gui]

TRAITSWEB = Path(sys.executable).with_name("traitsweb")  # the console script `make setup` installs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BASE_URL:
        pytest.skip("serves a model of its own (TRAITSWEB_BASE_URL is set)")
    home = tmp_path_factory.mktemp("newcomer")
    (home / "thermostat.py").write_text(readme_model())
    port = free_port()
    command = [str(TRAITSWEB), "serve", "thermostat:Thermostat", "--gateways", "1", "--port", str(port),
               "--stomp-port", str(free_port()), "--no-desktop",
               "--run-dir", str(ROOT / ".run" / "tests" / f"{os.getpid()}-newcomer")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the repository's on the path
    with serving(command, cwd=home, env=env):
        yield f"http://127.0.0.1:{port}"


def test_the_readme_model_is_live_in_a_page_a_window_and_a_notebook(
    served: str, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    import nbformat
    from nbclient import NotebookClient
    from pyface.api import GUI
    from pyface.qt import QtGui
    from pyface.util.event_loop_helper import EventLoopHelper
    from traitsui.testing.api import DisplayedText, UITester

    page = open_chat(browser, served, "page", main="#model")  # the generated page's log-in form
    page.wait_for_selector("[data-control=target] input[type=range]")
    history = "() => Number(document.querySelector('[data-view=history] svg').dataset.points)"
    seen = page.evaluate(history)
    page.wait_for_function(f"{history} > {seen}")  # the model's own steps, once a second, reach the page

    with RemoteModel.connect(served, "window") as remote:
        loop = EventLoopHelper(qt_app=QtGui.QApplication.instance(), gui=GUI())
        tester = UITester()
        with tester.create_ui(remote) as ui:
            (editor,) = ui.get_editors("target")  # a slider: the client may write it
            temperature = tester.find_by_name(ui, "temperature")
            move_slider(page, "target", 27)  # the page writes; the window follows
            loop.event_loop_until_condition(lambda: editor.value == 27.0, timeout=30)
            loop.event_loop_until_condition(lambda: temperature.inspect(DisplayedText()) == str(remote.temperature),
                                            timeout=30)

        # a notebook, as a newcomer would write it from the README: connect, write, see it come back
        jupyter_home(tmp_path, monkeypatch)
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
            f"from traitsweb.client import RemoteModel\nremote = RemoteModel.connect({served!r}, 'notebook')",
            "remote.set('target', 12.5, wait=True, timeout=30)\nremote.target",
            "remote.wait_for(lambda r: len(r.history) > 0, timeout=30)\nremote.close()",
        )])
        NotebookClient(notebook, kernel_name=KERNEL, timeout=120,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, errors
        assert notebook.cells[1].outputs[0]["data"]["text/plain"] == "12.5"
        # the notebook's write reached the window's model (its changes arrive on the GUI thread)
        loop.event_loop_until_condition(lambda: remote.target == 12.5, timeout=30)
    page.wait_for_function("() => document.querySelector('[data-trait=target]').textContent === '12.5'")
