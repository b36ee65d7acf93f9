"""``traitsweb serve`` as a person runs it, for the tests of the command: a process, its output, Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["serving"]


@contextlib.contextmanager
def serving(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """Run ``command`` (a ``serve``) until the block ends: yields its output lines once one says ``ready on``
    (they keep coming in); then Ctrl-C, and the command must exit 0."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "ready on" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(180) and proc.poll() is None, "".join(lines)
        yield lines
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(120)
        reader.join(10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 0, "".join(lines)
