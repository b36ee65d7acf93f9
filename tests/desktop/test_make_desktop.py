"""``make desktop``'s entry point (``python -m runner.desktop``) against a running stack, headless (no DISPLAY)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from PIL import Image

from runner.stack import Stack

pytestmark = pytest.mark.stack

#: as a person's shell runs it: no display, no toolkit chosen by the test suite, no broker URL
ENV = {k: v for k, v in os.environ.items()
       if k not in ("DISPLAY", "ETS_TOOLKIT", "QT_QPA_PLATFORM") and not k.startswith("TRAITSWEB_")}


def test_make_desktop_renders_the_running_stack(make_stack: Callable[..., AbstractContextManager[Stack]],
                                                tmp_path: Path) -> None:
    with make_stack(gateways=0, proxy=False) as stack:
        out = tmp_path / "desktop.log"
        with open(out, "wb") as log:
            desktop = subprocess.Popen(
                [sys.executable, "-m", "runner.desktop", "--run-dir", str(stack.run_dir),
                 "--snapshot-dir", str(tmp_path / "png"), "--interval", "1"],
                env=ENV, stdout=log, stderr=subprocess.STDOUT)
        try:
            latest = tmp_path / "png" / "latest.png"
            deadline = time.monotonic() + 90
            while not latest.exists():
                assert desktop.poll() is None, out.read_text()
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.2)  # polling for a file another process writes
            with Image.open(latest) as image:
                assert image.format == "PNG" and image.size[0] > 100
            text = out.read_text()
            assert "as 'desktop'" in text and "Access refused" not in text
            assert stack.secrets["TRAITSWEB_DESKTOP_PASSWORD"] not in text
        finally:
            desktop.terminate()
            desktop.wait(30)


def test_make_desktop_says_clearly_when_no_stack_runs(make_stack: Callable[..., AbstractContextManager[Stack]],
                                                      tmp_path: Path) -> None:
    with make_stack(gateways=0, proxy=False, model=False) as stack:
        run_dir = stack.run_dir
    done = subprocess.run([sys.executable, "-m", "runner.desktop", "--run-dir", str(run_dir)], env=ENV,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no traitsweb stack is running" in done.stderr and "make run" in done.stderr
    empty = subprocess.run([sys.executable, "-m", "runner.desktop", "--run-dir", str(tmp_path)], env=ENV,
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "make run" in empty.stderr
