"""Broker-node faults on a 3-node RabbitMQ cluster, under chat load through the proxy and 3 gateways.

Each test holds only when every accepted message reaches every reader exactly once, in order, without a
reset (ChatLoad.settle), and writes resume within WRITE_GAP seconds: the longest time between two accepted
sends, anyone's, from the fault on, is measured and bounded (that bound is part of the spec). Figures go to
the test output (-s) and docs/reliability.md.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.faults.freeze import frozen
from tests.faults.load import GATEWAY_LIMITS, ChatLoad
from tests.faults.standby import broker_node_of

pytestmark = pytest.mark.stack

HEARTBEAT_MS = 5000
#: the longest writes may stop while one node is lost or frozen
WRITE_GAP = 5.0


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": str(HEARTBEAT_MS)}, "gateway": GATEWAY_LIMITS}
    with make_stack(gateways=3, proxy=True, brokers=3, env=env) as stack:
        yield stack


@pytest.fixture(autouse=True)
def healthy(stack: Stack) -> None:
    stack.wait_cluster(120)
    stack.wait_replicas(120)
    stack.wait_ready(90)


def report(name: str, load: ChatLoad, gap: float) -> None:
    print(f"\n[reliability] {name}: {load.report()}; longest write gap {gap:.2f} s")


def healed(stack: Stack, load: ChatLoad, name: str) -> None:
    """After a fault: the cluster whole again, more load, then every check (ChatLoad.settle and the write gap)."""
    stack.wait_cluster(120)
    load.recovered()
    load.more(20)
    load.settle()
    gap = load.write_gap
    report(name, load, gap)
    assert gap <= WRITE_GAP, f"writes stopped for {gap:.1f} s"


@pytest.mark.parametrize("node", [1, 2, 3])
def test_kill_9_one_broker_node(stack: Stack, node: int) -> None:
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        load.fault()
        stack.kill(f"rabbitmq-{node}", signal.SIGKILL)  # supervisord restarts it; it rejoins with its data
        load.more(30)
        healed(stack, load, f"kill -9 rabbitmq-{node} of 3")


@pytest.mark.skipif(not os.environ.get("TRAITSWEB_KNOWN_FAILING"), reason=(
    "known to fail: the input order holds now (single active consumer), but when the frozen node led the "
    "input queues' Raft groups, accepted writes stopped for 8.9 s (bound 5 s) until new leaders were "
    "elected; and a gateway connected to the frozen node got newer out messages before those its old "
    "connection held, and reset its clients (docs/reliability.md). Run it with TRAITSWEB_KNOWN_FAILING=1"))
def test_sigstop_the_models_broker_node_for_30_s(stack: Stack) -> None:
    # slower senders: 30 s at full speed is thousands of messages, more than /api/state's bounded snapshot
    # (ChatLoad.settle's view of the model's order) holds
    with ChatLoad(stack.proxy_url, interval=0.2) as load:
        load.more(30)
        node = broker_node_of(stack, "model")  # the harder case: the model's frames are held there
        load.fault()
        with frozen(stack, node):
            load.more(30)  # writes go on through the other two nodes while it is frozen
        healed(stack, load, f"SIGSTOP {node} (the model's) of 3 for 30 s")
