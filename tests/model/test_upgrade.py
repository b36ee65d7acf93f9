"""Upgrading a single-node deployment whose classic queues still hold input: ``traitsweb upgrade`` moves it
into the quorum queues, and the model applies each message once, in order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from runner.stack import Stack
from traitsweb import protocol
from traitsweb.broker import StompClient
from traitsweb.settings import parse_broker_url
from runner.upgrade import move_legacy
from tests.stompclient import Peer

pytestmark = pytest.mark.stack

LEGACY = {"queues": [{"name": name, "vhost": "/", "durable": True, "auto_delete": False, "arguments": {}}
                     for name in ("traitsweb.in", "traitsweb.control")]}
#: the older release's permissions for its clients, who sent to those queues by name (the default exchange)
LEGACY_CLIENT = ("^(stomp-subscription-.*|amq\\.gen-.*)$", "^(traitsweb|amq\\.default|stomp-subscription-.*|amq\\.gen-.*)$",
                 "^(amq\\.topic|stomp-subscription-.*|amq\\.gen-.*)$")


def passwords(stack: Stack) -> dict[str, str]:
    return {user: stack.secrets[f"TRAITSWEB_{user.upper()}_PASSWORD"] for user in ("model", "gateway", "desktop")}


def test_queued_classic_input_survives_the_upgrade_once(make_stack: Callable[..., AbstractContextManager[Stack]]) -> None:
    with make_stack(gateways=0, proxy=False, env={"model": {"TRAITSWEB_IDLE_TIMEOUT": "3600"}}) as stack, \
            Peer(stack.broker_url("gateway")) as gateway:
        session = gateway.login("old")
        gateway.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
        stack.stop("model")
        # the older release's broker: its classic queues, which its gateways filled while no model ran
        legacy = stack.run_dir / "legacy.json"
        legacy.write_text(json.dumps(LEGACY))
        stack.rabbitmqctl("import_definitions", str(legacy))
        stack.rabbitmqctl("set_permissions", "-p", "/", "gateway", *LEGACY_CLIENT)
        texts = [f"queued before the upgrade {uuid.uuid4().hex[:6]} #{n}" for n in range(20)]
        for text in texts:
            body = {"id": session, "trait": "entry_field", "value": text, "msg_id": uuid.uuid4().hex}
            gateway.client.send("/amq/queue/traitsweb.in", json.dumps(body), headers=protocol.SEND_HEADERS)
        with StompClient(parse_broker_url(stack.broker_url("model")), name="stranger") as stranger:
            assert stranger.wait_connected(30)  # the model's own user: not a client of the model
            stranger.send("/amq/queue/traitsweb.in", "{}", headers=protocol.SEND_HEADERS)

        moved = move_legacy(stack.broker_addresses, passwords(stack), idle=2)
        assert moved == {"traitsweb.control": 0, "traitsweb.in": len(texts), "dead": 1}
        again = move_legacy(stack.broker_addresses, passwords(stack), idle=1)
        assert again == {"traitsweb.control": 0, "traitsweb.in": 0, "dead": 0}

        stack.start_program("model")
        gateway.wait_for(lambda m: m.get("trait") == "messages" and m["added"]
                         and m["added"][0]["text"] == texts[-1], timeout=60)
        applied = [m["text"] for m in gateway.snapshot()["state"]["messages"] if m["text"] in texts]
        assert applied == texts
