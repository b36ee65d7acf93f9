"""A chat at its cap of 10,000 messages of 2,000 characters: bounded snapshots, and older messages on demand.

In process (model and gateway on the memory broker, :mod:`tests.inproc`), with the model's store filled
before it starts, as after weeks of chatting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from services.model.store import Store
from tests.gateway.test_http import until
from tests.inproc import InProcess, in_process
from tests.webclient import WebClient
from traitsweb import protocol
from traitsweb.broker import connect
from traitsweb.settings import parse_broker_url
from traitsweb.snapshot import DEFAULT_MAX_BYTES

CAP, TEXT = 10_000, 2_000


def message(i: int) -> dict[str, Any]:
    # three UTF-8 bytes a character: the largest a message of 2,000 characters gets in the chat's state
    return {"user": "filler", "text": f"{i:06d}" + "€" * (TEXT - 6), "time": 1.0 + i}


@pytest.fixture(scope="module")
def full_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    data = tmp_path_factory.mktemp("large")
    with Store(data / "model.sqlite3") as store:
        store.load()
        store.checkpoint(0, {"messages": [message(i) for i in range(CAP)]})
    with in_process(data) as app:
        yield app


def model_snapshot(app: InProcess) -> bytes:
    """The snapshot the model publishes, as a consumer on the broker receives it."""
    got: list[bytes] = []
    arrived = threading.Event()
    with connect(parse_broker_url(app.broker_url), name="probe") as client:
        client.on_reply("/temp-queue/probe", lambda frame: (got.append(frame.body.encode()), arrived.set()))
        client.start()
        assert client.connected.wait(10)
        client.publish(protocol.CONTROL, '{"type":"snapshot_request"}',
                       headers={**protocol.SEND_HEADERS, "reply-to": "/temp-queue/probe"})
        assert arrived.wait(20), "no snapshot"
    return got[0]


def texts(items: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in items]


def test_the_snapshot_and_the_state_of_a_chat_at_the_cap_stay_under_the_maximum(full_chat: InProcess) -> None:
    body = model_snapshot(full_chat)
    assert len(body) <= DEFAULT_MAX_BYTES
    snapshot = protocol.decode_out(body)
    kept = snapshot["state"]["messages"]
    assert snapshot["truncated"] == {"messages": CAP - len(kept)} and len(kept) > 10
    assert kept == [message(i) for i in range(CAP - len(kept), CAP)]  # the newest part of the model's

    client = WebClient(full_chat.url, http=full_chat.http)
    client.login("reader")
    reply = full_chat.http.get("/api/state", headers=client.auth)
    assert len(reply.content) <= DEFAULT_MAX_BYTES
    state = reply.json()
    held = state["state"]["messages"]
    assert state["truncated"]["messages"] + len(held) == CAP
    assert held == [message(i) for i in range(CAP - len(held), CAP)]


def test_new_messages_at_the_cap_apply_to_a_truncated_state(full_chat: InProcess) -> None:
    client = WebClient(full_chat.url, http=full_chat.http)
    client.login("writer")
    offset, held = client.offsets["messages"], len(client.state["messages"])
    new = [f"at the cap {n} " + "€" * (TEXT - 13) for n in range(3)]
    for text in new:
        assert client.post(text).status_code == 202
    until(client, lambda: texts(client.state["messages"])[-3:] == new)
    # each new message dropped the model's oldest: the held part slid by one, its length the same
    model_tail = texts([message(i) for i in range(CAP)])[3:] + new
    assert texts(client.state["messages"]) == model_tail[-len(client.state["messages"]):]
    # the client keeps what it saw: three more held, the drops only moved its offset
    assert len(client.state["messages"]) == held + 3 and client.offsets["messages"] == offset - 3
    assert client.offsets["messages"] + len(client.state["messages"]) == CAP
    state = full_chat.http.get("/api/state", headers=client.auth).json()
    assert state["truncated"]["messages"] + len(state["state"]["messages"]) == CAP
    assert texts(state["state"]["messages"]) == model_tail[-len(state["state"]["messages"]):]
    assert len(state["state"]["messages"]) == held  # as long as the ones dropped: as many fit


def test_history_answers_from_the_replicas_state_and_refuses_bad_queries(full_chat: InProcess) -> None:
    client = WebClient(full_chat.url, http=full_chat.http)
    client.login("historian")
    http, auth = full_chat.http, client.auth
    end = client.offsets["messages"] + len(client.state["messages"])
    before = end - 5
    reply = http.get(f"/api/history?trait=messages&before={before}&limit=3", headers=auth)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["start"] == before - 3 and body["epoch"] == client.epoch
    oldest = body["oldest"]
    assert body["items"] == client.state["messages"][before - 3 - client.offsets["messages"]:before - client.offsets["messages"]]
    # the replica saw messages after its snapshot: it holds older ones than its bounded state carries
    mine = client.offsets["messages"]
    assert mine > oldest
    reply = http.get(f"/api/history?trait=messages&before={mine}&limit=500", headers=auth).json()
    assert reply["start"] == oldest and len(reply["items"]) == mine - oldest
    assert reply["items"][-1]["text"].startswith(f"{mine - 1 + 3:06d}")  # three dropped at the cap since
    # older than the replica holds: not there (the replica loaded a bounded snapshot)
    reply = http.get(f"/api/history?trait=messages&before={oldest}&limit=500", headers=auth).json()
    assert reply["items"] == [] and reply["start"] == oldest
    reply = http.get(f"/api/history?trait=messages&before={oldest + 2}&limit=500", headers=auth).json()
    assert reply["start"] == oldest and len(reply["items"]) == 2
    for query, status, code in [
        ("trait=messages&before=10&limit=501", 400, "bad_request"),
        ("trait=messages&before=-1", 400, "bad_request"),
        ("trait=messages", 400, "bad_request"),
        ("trait=no-such&before=1", 400, "bad_request"),
        ("trait=nothing&before=1", 404, "unknown_trait"),
        ("trait=participants&before=1", 404, "unknown_trait"),
    ]:
        reply = http.get(f"/api/history?{query}", headers=auth)
        assert (reply.status_code, reply.json()["error"]) == (status, code), query
        assert set(reply.json()) == {"error", "detail"}
    assert http.get("/api/history?trait=messages&before=1").status_code == 401
