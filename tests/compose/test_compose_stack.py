"""compose.yaml for real: `python -m runner.compose_harness` under podman (see docs/compose.md).

The harness builds the stand-in base images and the project's images, brings the stack up with
three gateway replicas, runs the HTTP integration suite against the published port and tears it
down; the first test passes when that suite passes. The second runs the same with compose.cluster.yaml. Its progress and timings go straight to the terminal.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from runner import compose_harness

pytestmark = pytest.mark.compose


@pytest.mark.timeout(1800)
def test_compose_stack_passes_the_http_suite(capsys: pytest.CaptureFixture[str]) -> None:
    reason = compose_harness.why_podman_cannot_run()
    if reason:
        pytest.skip(f"podman cannot run here: {reason}")
    with capsys.disabled():
        print(flush=True)
        code = subprocess.run([sys.executable, "-m", "runner.compose_harness"], cwd=compose_harness.ROOT).returncode
    if code == compose_harness.SKIP:
        pytest.skip("podman cannot run here (see the harness's output)")
    assert code == 0, f"the compose stack failed (exit {code}); its output and container logs are above"


@pytest.mark.timeout(1800)
def test_compose_cluster_forms_and_survives_a_node(capsys: pytest.CaptureFixture[str]) -> None:
    """compose.yaml + compose.cluster.yaml: 3 nodes clustered by configuration, every queue of the model's on
    each, a chat round trip through nginx, then again with rabbitmq-1 killed, which rejoins when started."""
    reason = compose_harness.why_podman_cannot_run()
    if reason:
        pytest.skip(f"podman cannot run here: {reason}")
    with capsys.disabled():
        print(flush=True)
        code = subprocess.run([sys.executable, "-m", "runner.compose_harness", "--cluster"],
                              cwd=compose_harness.ROOT).returncode
    if code == compose_harness.SKIP:
        pytest.skip("podman cannot run here (see the harness's output)")
    assert code == 0, f"the compose cluster failed (exit {code}); its output and container logs are above"
