"""`python -m bench.memprofile`: the connections it measures are the ones it claims to measure.

Its long-polls once asked for a 120 s hold, which the gateway refuses (25 s at most): every poll got a `400`
and the "held poll" figures were those of idle keep-alive connections. The report now carries the replica's
own count of waiting requests, and it must equal the connections opened.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner.stack import ROOT

CLIENTS = 21  # three sessions of seven


@pytest.mark.parametrize("transport", ["poll", "ws"])
def test_every_connection_is_held_by_the_replica(transport: str) -> None:
    out = subprocess.run([sys.executable, "-m", "bench.memprofile", "--clients", str(CLIENTS), "--transport",
                          transport, "--no-trace"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    held = next(value for key, value in report.items() if key.startswith("held"))
    assert held == CLIENTS, report
    assert report["clients"] == CLIENTS
