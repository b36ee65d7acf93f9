"""What the standby-model fault tests share: which model holds the lease, the broker node a program is
connected to, when writes are applied again, and a witness that no ``seq`` is issued twice."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx

from runner.stack import Stack
from tests.faults.load import ChatLoad
from tests.metrics import gauge
from tests.stompclient import Peer
from tests.wait import wait_until

__all__ = ["MODELS", "TAKEOVER", "active_model", "broker_node_of", "from_journal", "one_active_one_standby",
           "queue_leader", "seq_witness", "takeovers", "writes_resume"]

MODELS = ("model", "model-2")
#: the longest a write may wait for a model after the active one is lost (the issue's target)
TAKEOVER = 5.0
_LEASE = re.compile(r"^(\S+ \S+) model INFO services\.model\.service: (active|standby):", re.M)
_CONNECTED = re.compile(r"connected to ([\d.]+):(\d+)$", re.M)


def lease_events(stack: Stack, name: str) -> list[tuple[str, str]]:
    """``(time, "active"|"standby")`` lines of one model program's log, oldest first."""
    return _LEASE.findall(stack.log(name))


def active_model(stack: Stack) -> str:
    """The model program that took the lease last (an active model that loses it stops)."""
    latest = {name: max((t for t, what in lease_events(stack, name) if what == "active"), default="") for name in MODELS}
    return max(MODELS, key=lambda name: latest[name])


def takeovers(stack: Stack) -> int:
    """How many times any model process has taken the lease so far."""
    return sum(what == "active" for name in MODELS for _, what in lease_events(stack, name))


def one_active_one_standby(stack: Stack) -> str:
    """Wait for both model processes to be up, one active, the other's latest word 'standby'; the active one."""

    def settled() -> str | None:
        active = active_model(stack)
        events = {name: lease_events(stack, name) for name in MODELS}
        if not events[active] or events[active][-1][1] != "active":
            return None
        standby = next(name for name in MODELS if name != active)
        return active if events[standby] and events[standby][-1][1] == "standby" else None

    return wait_until(settled, timeout=90, what="one active model and one standby")


def whole_with_a_standby(stack: Stack, cluster_timeout: float = 120) -> str:
    """The cluster whole (every node running, the model's replicas online), every program up, one model active
    and one standby: the active one's name. What each test of a `BROKERS=3 MODELS=2` stack begins from."""
    stack.wait_cluster(cluster_timeout)
    stack.wait_replicas(120)
    stack.wait_ready(90)
    return one_active_one_standby(stack)


def broker_node_of(stack: Stack, program: str) -> str:
    """The broker node program (``rabbitmq-N``) that ``program`` connected to last, by its log."""
    addresses = _CONNECTED.findall(stack.log(program))
    assert addresses, f"{program} never connected"
    address, port = addresses[-1]
    return next(node.program for node in stack.nodes if (node.address, node.stomp_port) == (address, int(port)))


def queue_leader(stack: Stack, queue: str) -> str:
    """The broker node program (``rabbitmq-N``) that leads a quorum queue's or a stream's Raft group."""
    rows = json.loads(stack.rabbitmqctl("list_queues", "name", "leader", "--formatter", "json"))
    leader = next(row["leader"] for row in rows if row["name"] == queue)
    return next(node.program for node in stack.nodes if node.name == leader)


def from_journal(stack: Stack) -> int:
    """Out messages the gateway replicas applied from the journal before their out queues brought them."""
    return sum(int(gauge(base, "traitsweb_gateway_from_journal", default=0)) for base in stack.gateway_urls)


def writes_resume(load: ChatLoad, base_url: str, since: float) -> float:
    """Seconds from ``since`` (just after the fault) until a message sent after it is in the shared state.

    Sent, not accepted, after it: a send's ``202`` may reach its client after the model it loses applied
    it (seen: 3-11 ms after SIGSTOP was sent), and that message says nothing of the model taking over.
    A replica that cannot answer yet (its node lost, its state not reloaded) is asked again."""
    auth = load.members[0].client.auth

    def applied() -> float | None:
        try:
            reply = httpx.get(base_url + "/api/state", headers=auth, timeout=10)
        except httpx.TransportError:
            return None
        if reply.status_code != 200:
            return None
        texts = {m["text"] for m in reply.json()["state"]["messages"]}
        after = (t for m in load.members for t, at in zip(m.accepted, m.sent_at) if at >= since)
        return time.monotonic() if any(t in texts for t in after) else None

    return wait_until(applied, timeout=90, interval=0.05, what="a write applied after the fault") - since


@contextlib.contextmanager
def seq_witness(stack: Stack) -> Iterator[Peer]:
    """Records every out message while open; on leaving, fails if a ``seq`` carried two different messages."""
    with Peer(stack.broker_url("gateway"), name="seq-witness") as p:
        yield p
    by_seq: dict[tuple[str, int], dict[str, Any]] = {}
    for message in p.messages:
        if message["type"] != "snapshot":
            key = (message["epoch"], message["seq"])
            assert by_seq.setdefault(key, message) == message, f"seq {key} was issued twice"
