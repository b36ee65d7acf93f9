"""`RemoteModel` works in Jupyter: ``examples/notebook.ipynb`` run by a real IPython kernel against a stack.

The notebook's own cells connect, observe, write and assert that the write reached another client; a
failing assertion in a cell fails the run (``CellExecutionError``).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.stack import ROOT, Stack
from tests.conftest import BASE_URL

pytestmark = pytest.mark.stack

NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
KERNEL = "traitsweb-venv"


def _kernel_spec(home: Path) -> None:
    """A kernel that runs on this venv's python (not whatever ``python3`` kernel the machine has)."""
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "traitsweb venv", "language": "python"}))


def jupyter_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jupyter's and IPython's files under ``tmp_path``, with a kernel on this venv's python."""
    _kernel_spec(tmp_path / "jupyter")
    for name, value in {
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "PYTHONPATH": str(ROOT),
    }.items():
        monkeypatch.setenv(name, value)


def test_the_notebook_follows_and_writes_a_served_model(
    make_stack: Callable[..., contextlib.AbstractContextManager[Stack]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if BASE_URL:
        pytest.skip("serves a model of its own on a local stack (TRAITSWEB_BASE_URL is set)")
    import nbformat
    from nbclient import NotebookClient

    jupyter_home(tmp_path, monkeypatch)
    env = {"model": {"TRAITSWEB_MODEL": "examples.instrument:create", "TRAITSWEB_IDLE_TIMEOUT": "3600"}}
    with make_stack(gateways=1, proxy=False, env=env) as stack:
        monkeypatch.setenv("TRAITSWEB_URL", stack.gateway_urls[0])  # the kernel inherits the environment
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(notebook, kernel_name=KERNEL, timeout=120,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shown = [o["data"]["text/plain"] for o in outputs if o.get("output_type") == "execute_result"]
    assert any("42.5" in text or "57.5" in text for text in shown), shown  # the `seen` cell
