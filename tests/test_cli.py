"""``traitsweb serve``: bad factories are named in one line before anything starts; a good one is served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.stack import ROOT

BAD = [
    ("tests.models.nowhere:create", "cannot import 'tests.models.nowhere': no module named 'tests.models.nowhere'"),
    ("tests.models.broken_import:create", "importing 'tests.models.broken_import' failed: ImportError: numpy is required"),
    ("tests.models.counter", "'tests.models.counter' is not of the form pkg.module:factory"),
    ("tests.models.counter:missing", "module 'tests.models.counter' has no attribute 'missing'"),
    ("tests.models.bad:not_callable", "tests.models.bad:not_callable is not callable (it is an int)"),
    ("tests.models.bad:raises", "tests.models.bad:raises() raised RuntimeError: the instrument is not plugged in"),
    ("tests.models.bad:returns_plain_hastraits",
     "returned a traits.has_traits.HasTraits, not a traitsweb.bridge.SharedModel"),
    ("tests.models.bad:no_handler", "returned a NoHandler without a handler class"),
    ("tests.models.bad:wrong_handler", "WrongHandler.handler_class is the class traits.has_traits.HasTraits, not a traitsweb.bridge.SessionHandler"),
    ("tests.models.bad:start_without_scheduler", "StartWithoutScheduler.start must take one argument, the traitsweb"),
]


def serve(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", "serve", *args, "--run-dir", str(ROOT / ".run" / "tests" / "cli-never")],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(("spec", "problem"), BAD, ids=[spec for spec, _ in BAD])
def test_a_bad_factory_is_one_line_and_a_non_zero_exit(spec: str, problem: str) -> None:
    result = serve(spec)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("traitsweb: error: ") and problem in lines[0], result.stderr
    assert result.stdout == ""  # nothing started: not even the "starting" line
    assert not (ROOT / ".run" / "tests" / "cli-never").exists()


def test_the_model_is_looked_up_from_the_callers_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("def create():\n    return 1\n")
    result = serve("mine:create", cwd=tmp_path)
    assert result.returncode == 2 and "mine:create() returned an int, not a" in result.stderr, result.stderr


@pytest.mark.stack
def test_serve_brings_up_a_stack_that_serves_the_instrument() -> None:
    import os

    from runner.stack import free_port
    from tests.serving import serving
    from tests.webclient import WebClient

    port, run_dir = free_port(), ROOT / ".run" / "tests" / f"{os.getpid()}-cli-serve"
    command = [sys.executable, "-m", "runner", "serve", "examples.instrument:create", "--gateways", "1",
               "--port", str(port), "--stomp-port", str(free_port()), "--run-dir", str(run_dir)]
    with serving(command, cwd=ROOT) as lines:
        assert f"ready on http://127.0.0.1:{port}" in lines[-1]
        with WebClient(f"http://127.0.0.1:{port}") as client:
            client.login("ann")
            start = client.state["samples"]
            assert client.send("setpoint", 42.0).status_code == 202
            assert client.send("setpoint", 420).status_code == 422  # outside the Range the model published
            while client.state["setpoint"] != 42.0 or client.state["samples"] < start + 10:
                client.poll(timeout=5)  # the readings arrive by themselves, 20 a second
        appended = [m for m in client.received if m.get("trait") == "readings" and m["added"]]
        assert len(appended) >= 10 and all(m["op"] == "list" for m in appended)
        assert "desktop ready" in (run_dir / "logs" / "desktop.log").read_text()
    assert "traitsweb: stopping" in "".join(lines), "".join(lines)
