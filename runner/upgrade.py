"""``traitsweb upgrade``: move what the classic queues of an older release still hold into the quorum queues.

A queue's type cannot change once declared, so the quorum input and control queues have new names
(:data:`traitsweb.protocol.LEGACY_QUEUES`). Input queued in the old classic ``traitsweb.in`` and
``traitsweb.control`` (sent while no model consumed them) would otherwise never be applied. Each message is
re-sent, in order, by a connection logged in as the user that sent it (the model trusts the broker-validated
``user-id``, so the message must keep its sender), and acknowledged on the old queue only after the new one
took it. A crash in between sends it twice; the model applies a ``msg_id`` once. A message from anyone else
is dead-lettered (``traitsweb.dead``). Run it once, with the new release's broker definitions loaded; running
it again moves nothing.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

from runner.stack import stomp_exchange
from traitsweb import protocol
from traitsweb.broker import Delivery, StompClient
from traitsweb.settings import parse_broker_url

__all__ = ["SENDERS", "move_legacy", "queue_exists"]

#: the users whose messages the model takes (services/model/config.py's defaults)
SENDERS = ("gateway", "desktop")


def move_legacy(addresses: str, passwords: Mapping[str, str], *, idle: float = 3.0) -> dict[str, int]:
    """Empty each legacy queue that exists into its quorum queue; ``{queue: moved, "dead": refused}``.

    ``addresses``: ``host:port[,host:port...]`` of the broker's STOMP listeners; ``passwords``: the model's (it
    reads the old queues) and its senders'. A queue counts as empty once nothing arrived for ``idle`` seconds.
    """
    host, port = parse_broker_url(f"stomp://{addresses}").nodes[0]
    counts: dict[str, int] = {"dead": 0}
    with ExitStack() as stack:
        senders = {user: stack.enter_context(_client(addresses, user, passwords[user])) for user in SENDERS}
        for legacy, target in protocol.LEGACY_QUEUES.items():
            if not queue_exists(host, port, "model", passwords["model"], legacy):
                continue
            counts[legacy] = 0
            inbox: queue.Queue[Delivery] = queue.Queue()
            with _client(addresses, "model", passwords["model"]) as reader:
                reader.subscribe(f"/amq/queue/{legacy}", inbox.put, ack="client-individual",
                                 headers={"prefetch-count": "100"})
                while True:
                    try:
                        frame = inbox.get(timeout=idle)
                    except queue.Empty:
                        break
                    sender = senders.get(frame.headers.get(protocol.USER_ID, ""))
                    if sender is None:
                        reader.nack(frame, requeue=False)
                        counts["dead"] += 1
                        continue
                    sender.send(target, frame.body, headers=protocol.SEND_HEADERS, timeout=30)
                    reader.ack(frame)
                    counts[legacy] += 1
    return counts


@contextmanager
def _client(addresses: str, user: str, password: str) -> Iterator[StompClient]:
    with StompClient(parse_broker_url(f"stomp://{user}:{password}@{addresses}"), name=f"upgrade-{user}") as client:
        if not client.wait_connected(30):
            raise RuntimeError(f"upgrade: cannot connect to the broker at {addresses} as {user}")
        yield client


def queue_exists(host: str, port: int, user: str, password: str, name: str) -> bool:
    """Whether the broker has queue ``name``: a SUBSCRIBE to ``/amq/queue/NAME`` gets a receipt, else an ERROR.

    A connection of its own, because RabbitMQ closes the connection of a frame naming a missing queue.
    """
    reply = stomp_exchange(host, port, user, password,
                           f"SUBSCRIBE\nid:probe\ndestination:/amq/queue/{name}\nack:client-individual\n"
                           "prefetch-count:1\nreceipt:probe\n\n\0".encode())  # a message it got goes back
    if "RECEIPT" in reply and "ERROR" not in reply:
        return True
    if "NOT_FOUND" in reply.upper():
        return False
    raise RuntimeError(f"upgrade: cannot tell whether queue {name} exists: {reply[:300]!r}")
