"""Follow traitsweb's shared state with nothing but stomp.py: the consumer docs/protocol.md describes.

    python examples/stomp_consumer.py stomp://desktop:PASSWORD@127.0.0.1:61613

Prints each state it reaches. The same code, imported, is tests/model/test_foreign_consumer.py, so the
documentation cannot drift from what RabbitMQ and the model really do.
"""

from __future__ import annotations

import json
import queue
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import stomp

OUT, CONTROL, REPLY_TO = "/topic/traitsweb.out", "/exchange/traitsweb/control.quorum", "/temp-queue/snapshot"


def apply(state: dict[str, Any], m: dict[str, Any]) -> None:
    """One ``trait_change`` (docs/protocol.md, "trait_change")."""
    trait, op = m["trait"], m["op"]
    if op == "set":
        state[trait] = m["value"]
    elif op == "list":
        state[trait][m["index"]:m["index"] + m["removed"]] = m["added"]
    elif op == "dict":
        state[trait].update(m["set"])
        for key in m["removed"]:
            state[trait].pop(key, None)
    elif op == "set_items":
        state[trait] = sorted((set(state[trait]) - set(m["removed"])) | set(m["added"]))


def follow(url: str, on_state: Callable[[dict[str, Any], int, dict[str, str]], bool]) -> None:
    """Calls ``on_state(state, seq, headers)`` after the snapshot and after every change, until it returns True."""
    parts = urlsplit(url)
    frames: queue.Queue[Any] = queue.Queue()
    listener = stomp.ConnectionListener()
    listener.on_message = frames.put  # runs on stomp.py's receiver thread: hand over and return
    conn = stomp.Connection([(parts.hostname, parts.port or 61613)], heartbeats=(10000, 10000))
    conn.set_listener("", listener)
    conn.connect(parts.username, parts.password, wait=True)
    def ask() -> None:
        conn.send(CONTROL, json.dumps({"type": "snapshot_request"}),
                  headers={"persistent": "true", "content-type": "application/json", "reply-to": REPLY_TO,
                           "user-id": parts.username})  # the model serves only senders it knows

    try:
        conn.subscribe(OUT, id="out")  # 1. the stream first, so no change falls between it and the snapshot
        ask()  # 2. then ask for the state
        state, epoch, seq, early = None, None, 0, []
        while True:
            frame = frames.get(timeout=30)
            m = json.loads(frame.body)
            # 3. the reply matches no SUBSCRIBE id: its `subscription` header is the reply-to name
            #    (its `destination` is the broker's own /queue/amq.gen-... name)
            if frame.headers["subscription"] == REPLY_TO or m["type"] == "snapshot":
                state, epoch, seq = m["state"], m["epoch"], m["seq"]
                replay, early = [x for x in early if x["epoch"] == epoch and x["seq"] > seq], []
            elif state is None:
                early.append(m)  # a change that came before the snapshot's reply
                continue
            else:
                replay = [m]
            for m in replay:
                if m["epoch"] != epoch or m["seq"] > seq + 1:  # missed something: start again
                    ask()
                    state = None
                    break
                if m["seq"] == seq + 1:
                    seq = m["seq"]
                    if m["type"] == "trait_change":
                        apply(state, m)
            if state is not None and on_state(state, seq, frame.headers):
                return
    finally:
        conn.disconnect()


if __name__ == "__main__":
    follow(sys.argv[1], lambda state, seq, _: print(seq, json.dumps(state)[:200], flush=True) and False)
