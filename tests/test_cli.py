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
    ("tests.models.bad:wrong_handler", "WrongHandler.handler_class is a traits.has_traits.MetaHasTraits, not a"),
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
