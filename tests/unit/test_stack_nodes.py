"""A cluster's broker nodes keep their ports, hence their names, in a run directory used again (``make run
BROKERS=3`` twice): the nodes remember each other by name in their data. No process is started here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.hosts import Hosts, HostsError
from runner.stack import NODES, Stack, StackConfig, StackError


def test_a_cluster_in_a_used_run_directory_keeps_its_node_names(tmp_path: Path) -> None:
    first = Stack(StackConfig(run_dir=tmp_path, brokers=3, stomp_port=61613))
    assert [n.program for n in first.nodes] == ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]
    (tmp_path / NODES).write_text(json.dumps([[n.stomp_port, n.dist_port] for n in first.nodes]))  # as start() does
    again = Stack(StackConfig(run_dir=tmp_path, brokers=3, stomp_port=61613))
    assert [n.name for n in again.nodes] == [n.name for n in first.nodes]
    assert [n.dist_port for n in again.nodes] == [n.dist_port for n in first.nodes]
    # another size, or another first port, is another cluster: fresh ports
    assert len(Stack(StackConfig(run_dir=tmp_path, brokers=5, stomp_port=61613)).nodes) == 5
    moved = Stack(StackConfig(run_dir=tmp_path, brokers=3, stomp_port=61700))
    assert moved.nodes[0].stomp_port == 61700 and moved.nodes[1].name != first.nodes[1].name


def test_test_hosts_give_each_node_an_address_and_a_host_name_erlang_finds(tmp_path: Path) -> None:
    stack = Stack(StackConfig(run_dir=tmp_path, brokers=3, stomp_port=61613, hosts=True))
    assert stack.hosts is not None
    assert [n.address for n in stack.nodes] == [stack.hosts.address(k) for k in (1, 2, 3)]
    assert len({n.address for n in stack.nodes}) == 3 and all(n.address.startswith("10.213.") for n in stack.nodes)
    assert [n.name for n in stack.nodes] == [f"traitsweb-{n.stomp_port}@tw61613-{k}" for k, n in enumerate(stack.nodes, 1)]
    assert stack.broker_addresses == ",".join(f"{n.address}:{n.stomp_port}" for n in stack.nodes)
    inetrc = stack.hosts.inetrc(tmp_path / "inetrc").read_text()
    for k, node in enumerate(stack.nodes, start=1):
        assert f'{{host, {{{node.address.replace(".", ",")}}}, ["{node.hostname}"]}}.' in inetrc
    # what runs for a node (the node, the CLI) runs on its host
    assert stack.hosts.command(2, ["x"])[:4] == ["/usr/sbin/ip", "netns", "exec", "tw61613-2"]


def test_test_hosts_are_for_a_cluster_and_need_a_short_tag(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="hosts=True needs brokers > 1"):
        Stack(StackConfig(run_dir=tmp_path, hosts=True))
    with pytest.raises(HostsError, match="up to 6 digits"):
        Hosts("1234567", 3)
