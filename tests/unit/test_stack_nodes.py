"""A cluster's broker nodes keep their ports, hence their names, in a run directory used again (``make run
BROKERS=3`` twice): the nodes remember each other by name in their data. No process is started here."""

from __future__ import annotations

import json
from pathlib import Path

from runner.stack import NODES, Stack, StackConfig


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
