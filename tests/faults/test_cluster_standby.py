"""`make run BROKERS=3 MODELS=2` under chat load through the proxy and 3 gateways: a standby model on a
3-node cluster, with the journal on the cluster's streams. Kill -9 the broker node the active model is
connected to, the active model, or both together; freeze (SIGSTOP) for 30 s the node that leads the input
queue, or the active model's node.

Each holds only when every accepted message reaches every reader exactly once, in order, without a reset
(``ChatLoad.settle``), writes are applied again within :data:`TAKEOVER` seconds, the epoch stays, and no
``seq`` is ever issued for two different messages.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.faults.freeze import FREEZE, frozen
from tests.faults.load import GATEWAY_LIMITS, ChatLoad
from tests.faults.standby import (TAKEOVER, broker_node_of, from_journal, queue_leader, takeovers, whole_with_a_standby,
                                  writes_resume)
from tests.stompclient import Peer

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": "5000"}, "gateway": GATEWAY_LIMITS}
    with make_stack(gateways=3, proxy=True, brokers=3, models=2, env=env) as stack:
        yield stack


@pytest.fixture(name="active", autouse=True)
def _active(stack: Stack, peer: Peer) -> str:
    return whole_with_a_standby(stack)


#: faults whose takeover has taken over TAKEOVER seconds now and then (the correctness checks still hold):
#: when a killed node held the Raft leaders of the gateways' durable out queues, they read nothing for up to
#: ~6.3 s, though the standby applied inputs within 0.1 s. The gateways now also take out messages from the
#: journal (the hub's second copy), and 4 runs since stayed within 4.27 s; marked until more runs agree
SLOW_AT_TIMES = {"its broker node", "both together"}


@pytest.mark.parametrize("fault", ["its broker node", "the active model", "both together"])
def test_kill_9_under_load_on_a_cluster_with_a_standby(stack: Stack, active: str, fault: str) -> None:
    node = broker_node_of(stack, active)
    victims = {"its broker node": [node], "the active model": [active], "both together": [active, node]}[fault]
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        epoch = load.members[0].client.epoch
        taken, bridged = takeovers(stack), from_journal(stack)
        load.fault()
        for victim in victims:
            stack.kill(victim, signal.SIGKILL)  # supervisord restarts it: a node rejoins, a model as a standby
        killed_at = time.monotonic()
        load.recovered()
        resumed = writes_resume(load, stack.proxy_url, killed_at)
        load.more(40)
        stack.wait_cluster(120)
        load.settle()
        assert all(m.client.epoch == epoch for m in load.members)
        if active in victims:  # a process took the lease since (the standby, or the killed one restarted first)
            assert takeovers(stack) > taken
        print(f"\n[reliability] cluster + standby, kill -9 {fault} ({', '.join(victims)}): {load.report()}; "
              f"writes applied again after {resumed:.2f} s; {from_journal(stack) - bridged} out messages the "
              "gateways took from the journal first")
        if resumed > TAKEOVER and fault in SLOW_AT_TIMES and not os.environ.get("TRAITSWEB_KNOWN_FAILING"):
            pytest.xfail(f"known: writes resumed only after {resumed:.1f} s (bound {TAKEOVER} s); nothing lost, "
                         "no reset (SLOW_AT_TIMES; TRAITSWEB_KNOWN_FAILING=1 makes it a failure)")
        assert resumed <= TAKEOVER, f"writes resumed only after {resumed:.1f} s"


@pytest.mark.parametrize("whose", ["the input queue's leader", "the active model's"])
def test_sigstop_a_broker_node_for_30_s_on_a_cluster_with_a_standby(stack: Stack, active: str, whose: str) -> None:
    """A frozen node is not a dead one: its connections stay open, holding what was sent to them, and the
    others can tell it from a slow one only by its silence. The leader of the input queue frozen: every send
    waits for a new leader; the active model's node frozen: its held input frames and the gateways' held out
    frames come back only when the node is declared down or thawed.

    Every correctness check holds (nothing lost or doubled, each sender in order, no reset, the epoch kept,
    no ``seq`` issued twice); the 5 s bound on writes does not yet (docs/reliability.md), and fails only
    with ``TRAITSWEB_KNOWN_FAILING=1``."""
    node = queue_leader(stack, "traitsweb.in.quorum") if whose == "the input queue's leader" else broker_node_of(stack, active)
    # slower senders: 30 s at full speed is more than /api/state's bounded snapshot (settle's view) holds
    with ChatLoad(stack.proxy_url, interval=0.2) as load:
        load.more(30)
        epoch = load.members[0].client.epoch
        bridged = from_journal(stack)
        load.fault()
        with frozen(stack, node) as frozen_at:
            resumed = writes_resume(load, stack.proxy_url, frozen_at)
            load.more(30)  # writes go on through the other two nodes while it is frozen
        load.recovered()
        stack.wait_cluster(120)
        load.more(40)
        load.settle()
        assert all(m.client.epoch == epoch for m in load.members)
        gap = load.write_gap
        print(f"\n[reliability] cluster + standby, SIGSTOP {whose} node ({node}) for {FREEZE:.0f} s: {load.report()}; "
              f"writes applied again after {resumed:.2f} s; longest write gap {gap:.2f} s; "
              f"{from_journal(stack) - bridged} out messages the gateways took from the journal first")
        slow = resumed > TAKEOVER or gap > TAKEOVER
        if slow and not os.environ.get("TRAITSWEB_KNOWN_FAILING"):
            pytest.xfail(f"known: writes applied again after {resumed:.1f} s, accepted writes stopped for {gap:.1f} s "
                         f"(bound {TAKEOVER} s); nothing lost, no reset, the epoch kept (a frozen leader's queues and "
                         "streams move only once the others declare it down; TRAITSWEB_KNOWN_FAILING=1 makes it a failure)")
        assert resumed <= TAKEOVER, f"writes resumed only after {resumed:.1f} s"
        assert gap <= TAKEOVER, f"accepted writes stopped for {gap:.1f} s"


def test_every_node_tells_a_frozen_peer_within_seconds(stack: Stack) -> None:
    """What the freeze figures rest on: Erlang's distribution declares a silent peer down after ~10 s
    (``net_ticktime``), and Raft's failure detector (aten) keeps RabbitMQ's 5 s poll: a 1 s poll moved the
    lease off a frozen node's consumer before the old active model had stopped, and a ``seq`` was issued
    twice (docs/reliability.md)."""
    for node in stack.nodes:
        assert stack.rabbitmqctl("eval", "net_kernel:get_net_ticktime().", node=node).strip() == "10"
        assert stack.rabbitmqctl("eval", "application:get_env(aten, poll_interval).", node=node).strip() == "{ok,5000}"
