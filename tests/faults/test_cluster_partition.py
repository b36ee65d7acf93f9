"""A network partition: one broker node of three cut off from the other two for 30 s, then let back.

The cluster's nodes each run on a test host of their own (a network namespace: ``runner.hosts``), the
services on the machine, so the cut node still takes its clients' connections while it cannot reach the
other nodes: the split a broken link between two racks makes. This is `make run BROKERS=3 MODELS=2`
under chat load through the proxy and 3 gateways.

It holds only when no write is lost or applied twice, before, during, and after the node rejoins
(``cluster_partition_handling = autoheal`` restarts the side that lost and it rejoins): every accepted
message reaches every reader exactly once, in order, without a reset (``ChatLoad.settle``), the epoch
stays, and no ``seq`` is ever issued for two different messages (``seq_witness``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.faults.freeze import FREEZE
from tests.faults.load import GATEWAY_LIMITS, ChatLoad
from tests.faults.standby import broker_node_of, from_journal, queue_leader, seq_witness, takeovers, whole_with_a_standby
from tests.stompclient import Peer

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(os.geteuid() != 0, reason="test hosts are network namespaces: only root makes them")]


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": "5000"}, "gateway": GATEWAY_LIMITS}
    with make_stack(gateways=3, proxy=True, brokers=3, models=2, hosts=True, env=env) as stack:
        yield stack


@pytest.fixture(name="active", autouse=True)
def _active(stack: Stack, peer: Peer) -> str:
    return whole_with_a_standby(stack, cluster_timeout=180)


#: found by this test, not fixed: the active model on the cut node goes on as active through the cut, and
#: when the link comes back the standby may take the lease at the journal position it has, while the old
#: model's last journal frames, sent to the minority during the cut, may still commit: two models were active
#: for ~0.1 s, then took the lease in turn, and 15 of 62 sends were not accepted within the wait (a fresh-clone
#: ``make test`` of 196c328; docs/reliability.md)
SPLIT_ON_HEAL = pytest.mark.skipif(not os.environ.get("TRAITSWEB_KNOWN_FAILING"), reason=(
    "known to fail at times: when the link comes back, the standby can take the lease while the cut-off active "
    "model is still active (two for ~0.1 s), and writes then stalled: 15 of 62 sends not accepted within the "
    "wait; the other case failed 1 of its last 3 runs by hand (docs/reliability.md). Run it with "
    "TRAITSWEB_KNOWN_FAILING=1"))


@SPLIT_ON_HEAL
@pytest.mark.parametrize("whose", ["the input queue's leader", "the active model's"])
def test_cut_a_broker_node_off_the_others_for_30_s_then_let_it_rejoin(stack: Stack, active: str, whose: str) -> None:
    program = queue_leader(stack, "traitsweb.in.quorum") if whose == "the input queue's leader" else broker_node_of(stack, active)
    host = next(n for n, node in enumerate(stack.nodes, start=1) if node.program == program)
    assert stack.hosts is not None
    with seq_witness(stack), ChatLoad(stack.proxy_url, interval=0.2) as load:
        load.more(30)
        epoch = load.members[0].client.epoch
        taken, bridged = takeovers(stack), from_journal(stack)
        load.fault()
        cut_at = time.monotonic()
        with stack.hosts.cut(host):
            load.more(30)  # writes go on through the two nodes that still see each other
            time.sleep(max(0.0, FREEZE - (time.monotonic() - cut_at)))
        load.recovered()
        stack.wait_cluster(180)  # the side that lost is restarted and rejoins
        load.more(40)
        load.settle()
        assert all(m.client.epoch == epoch for m in load.members)
        print(f"\n[reliability] cluster + standby, {whose} node ({program}) cut off for {FREEZE:.0f} s, then rejoined: "
              f"{load.report()}; longest write gap {load.write_gap:.2f} s; {takeovers(stack) - taken} takeovers; "
              f"{from_journal(stack) - bridged} out messages the gateways took from the journal first")
