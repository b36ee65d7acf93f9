"""A broker node is ready for traitsweb only once the definitions' bindings are in (``deploy/rabbitmq/ready.sh``,
the image's healthcheck and the runner's wait): RabbitMQ opens its STOMP port, and takes log-ins, before it
imports them, and a SEND to the ``traitsweb`` exchange that reaches no queue gets a receipt and is dropped."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from runner.stack import Stack, StackError

pytestmark = pytest.mark.stack


def test_a_node_without_a_binding_is_not_ready_and_says_which(
        make_stack: Callable[..., AbstractContextManager[Stack]]) -> None:
    with make_stack(gateways=0, proxy=False, model=False) as stack:
        stack.wait_definitions(5)  # start() waited for it
        stack.rabbitmqctl("delete_queue", "traitsweb.journal")  # its binding goes with it
        with pytest.raises(StackError, match="bindings not yet imported:\ntraitsweb.journal\ttraitsweb.journal"):
            stack.wait_definitions(2)
        definitions = stack.run_dir / stack.nodes[0].program / "definitions.json"
        queues = json.loads(definitions.read_text())
        again = stack.run_dir / "again.json"
        again.write_text(json.dumps({key: queues[key] for key in ("queues", "bindings")}))
        stack.rabbitmqctl("import_definitions", str(again))
        stack.wait_definitions(30)
