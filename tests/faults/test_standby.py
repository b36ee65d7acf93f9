"""A standby model under chat load (MODELS=2): the active one is killed, loses its disk, or freezes.

Each fault must cost nobody a message or a reset: every accepted message reaches every reader exactly
once and in order (``ChatLoad.settle``), writes are applied again within :data:`TAKEOVER` seconds of the
fault, and no ``seq`` is ever issued for two different messages (a peer records the whole out topic).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.faults.load import GATEWAY_LIMITS, ChatLoad
from tests.faults.standby import TAKEOVER, active_model, one_active_one_standby, writes_resume
from tests.stompclient import Peer
from tests.wait import wait_until

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"gateway": {"TRAITSWEB_HEARTBEAT_MS": "5000", **GATEWAY_LIMITS}}
    with make_stack(gateways=3, proxy=True, models=2, env=env) as stack:
        yield stack


@pytest.fixture(name="one_active_one_standby", autouse=True)
def _one_active_one_standby(stack: Stack, peer: Peer) -> str:
    stack.wait_ready(90)
    return one_active_one_standby(stack)


def report(name: str, load: ChatLoad, resumed: float) -> None:
    print(f"\n[reliability] {name}: {load.report()}; writes applied again after {resumed:.2f} s")


@pytest.mark.parametrize("lose_disk", [False, True], ids=["kill -9", "disk lost, kill -9"])
def test_the_standby_takes_over_from_a_killed_model(stack: Stack, one_active_one_standby: str, lose_disk: bool) -> None:
    active = one_active_one_standby
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        epoch = load.members[0].client.epoch
        if lose_disk:
            data = stack.volumes / ("model-data" if active == "model" else "model-data-2")
            shutil.rmtree(data, ignore_errors=True)
        load.fault()
        stack.kill(active, signal.SIGKILL)
        killed_at = time.monotonic()
        load.recovered()
        resumed = writes_resume(load, stack.gateway_urls[0], killed_at)
        load.more(40)
        load.settle()
        assert all(m.client.epoch == epoch for m in load.members)
        assert active_model(stack) != active
        report(f"standby takes over ({'disk lost, ' if lose_disk else ''}kill -9 the active model)", load, resumed)
        assert resumed <= TAKEOVER, f"writes resumed only after {resumed:.1f} s"


def test_a_frozen_model_loses_the_lease_and_issues_nothing_when_thawed(stack: Stack, one_active_one_standby: str) -> None:
    active = one_active_one_standby
    old_pid = stack.pid(active)
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        load.fault()
        stack.kill(active, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            resumed = writes_resume(load, stack.gateway_urls[0], frozen_at)
            assert active_model(stack) != active
            load.more(20)
        finally:
            stack.kill(active, signal.SIGCONT)
        load.recovered()
        # it finds its connection gone and stops without a commit; supervisord restarts it as a standby
        wait_until(lambda: stack.pid(active) != old_pid, timeout=90, what="the thawed model to stop")
        load.more(20)
        load.settle()
        report("SIGSTOP the active model (standby takes over), then SIGCONT", load, resumed)
        assert resumed <= TAKEOVER, f"writes resumed only after {resumed:.1f} s"
