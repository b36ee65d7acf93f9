"""The gateway's HTTP API against a real stack: replicas, nginx, RabbitMQ, the model."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from runner.stack import Stack
from tests.webclient import WebClient  # noqa: F401  (type of new_client's products)

pytestmark = pytest.mark.stack


def until(client: WebClient, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Long-poll until ``done()``; bounded."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"condition not reached; view has {client.texts()[-5:]}"
        client.poll(timeout=min(5.0, max(0.1, deadline - time.monotonic())))


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_sessions_chat_and_rate_and_all_see_the_same_ordered_history(base_url: str, new_client: Any) -> None:
    run = tag()
    clients = [new_client() for _ in range(3)]
    for n, client in enumerate(clients):
        client.login(f"user{n}-{run}")
    expected = []
    for round_ in range(4):
        for n, client in enumerate(clients):
            text = f"{run} {n}.{round_}"
            assert client.post(text).status_code == 202
            expected.append(text)
    for n, client in enumerate(clients):
        assert client.send("rating_selector", n + 3).status_code == 202
    for client in clients:
        until(client, lambda c=client: [t for t in c.texts() if t.startswith(run)] == expected
              and len([v for k, v in c.state["connection_ratings"].items()
                       if k in {x.id for x in clients}]) == 3)
    state = httpx.get(base_url + "/api/state", headers=clients[0].auth).json()
    for client in clients:
        assert client.state["messages"] == [m for m in state["state"]["messages"] if m in client.state["messages"]]
        assert [t for t in client.texts() if t.startswith(run)] == expected
    mine = {c.id: r for c, r in zip(clients, (3, 4, 5))}
    assert {k: v for k, v in state["state"]["connection_ratings"].items() if k in mine} == mine


def test_alternating_replicas_get_every_message_exactly_once_in_seq_order(local_stack: Stack, new_client: Any) -> None:
    run = tag()
    reader = new_client(local_stack.gateway_urls, origin=local_stack.proxy_url)  # replica 1, 2, 1, 2, ...
    writer = new_client(list(reversed(local_stack.gateway_urls)), origin=local_stack.proxy_url)
    reader.login(f"reader-{run}")
    writer.login(f"writer-{run}")
    sent = [f"{run}-{n}" for n in range(30)]
    for text in sent:
        assert writer.post(text).status_code == 202
    until(reader, lambda: sent[-1] in reader.texts())
    seqs = [m["seq"] for m in reader.received]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "a message came twice or out of order"
    posted = [m["added"][0]["text"] for m in reader.received
              if m["type"] == "trait_change" and m["trait"] == "messages" and m["added"]]
    assert [t for t in posted if t.startswith(run)] == sent
    assert reader.resets == 1  # only the initial state: no gap ever needed a reset


def test_private_errors_reach_only_their_session(local_stack: Stack, new_client: Any) -> None:
    from tests.stompclient import Peer

    alice, bob = new_client(local_stack.proxy_url), new_client(local_stack.proxy_url)
    alice.login("alice")
    bob.login("bob")
    with Peer(local_stack.broker_url("gateway")) as peer:  # what a gateway would forward, bypassing its checks
        msg_id = peer.write(alice.id, "rating_selector", 42)
        marker = peer.write(bob.id, "entry_field", f"marker {tag()}")
    until(alice, lambda: any(e["msg_id"] == msg_id for e in alice.errors))
    until(bob, lambda: any(m.get("trait") == "messages" for m in bob.received))
    until(alice, lambda: any(m.get("trait") == "messages" for m in alice.received))
    assert all(m.get("to") in (None, bob.id) for m in bob.received)
    assert not bob.errors and marker


def test_sse_delivers_and_resumes_from_last_event_id(base_url: str, new_client: Any) -> None:
    client = new_client()
    client.login(f"sse-{tag()}")
    first, second = f"sse one {tag()}", f"sse two {tag()}"
    headers = {**client.auth, "Origin": base_url}

    def read_until(text: str, last_event_id: str | None = None) -> tuple[str, list[dict[str, Any]]]:
        extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
        params = {"epoch": client.epoch, "since": client.seq}
        seen: list[dict[str, Any]] = []
        event_id = ""
        with httpx.stream("GET", base_url + "/api/events", params=params, headers={**headers, **extra}, timeout=30) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    batch = json.loads(line[6:])
                    seen.extend(batch.get("messages", []))
                    if any(m.get("trait") == "messages" and m["added"][0]["text"] == text for m in seen):
                        return event_id, seen
        raise AssertionError("stream ended")

    assert client.post(first).status_code == 202
    event_id, seen = read_until(first)
    assert client.post(second).status_code == 202
    _, resumed = read_until(second, last_event_id=event_id)
    assert all(m["seq"] > int(event_id) for m in resumed)  # resumed after the last event, nothing again
    assert [m["seq"] for m in resumed] == sorted(m["seq"] for m in resumed)


def test_websocket_delivers_the_same_batches(base_url: str, new_client: Any) -> None:
    from websockets.sync.client import connect

    client = new_client()
    client.login(f"ws-{tag()}")
    text = f"over ws {tag()}"
    url = base_url.replace("http", "ws", 1) + f"/api/ws?epoch={client.epoch}&since={client.seq}"
    with connect(url, additional_headers={**client.auth, "Origin": base_url}, open_timeout=10) as socket:
        assert client.post(text).status_code == 202
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = json.loads(socket.recv(timeout=30))
            client.apply(batch)
            if text in client.texts():
                break
        assert text in client.texts()


def test_websocket_refuses_a_foreign_origin(base_url: str, new_client: Any) -> None:
    from websockets.exceptions import InvalidStatus, ConnectionClosedError
    from websockets.sync.client import connect

    client = new_client()
    client.login(f"ws-evil-{tag()}")
    url = base_url.replace("http", "ws", 1) + "/api/ws"
    with pytest.raises((InvalidStatus, ConnectionClosedError)):
        with connect(url, additional_headers={**client.auth, "Origin": "http://evil.example"}, open_timeout=10) as s:
            s.recv(timeout=10)


def test_openapi_and_operations_endpoints(base_url: str) -> None:
    spec = httpx.get(base_url + "/openapi.json").json()
    for path in ("/api/login", "/api/send", "/api/poll", "/api/state", "/api/logout", "/api/events",
                 "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    assert httpx.get(base_url + "/docs").status_code == 200
    assert httpx.get(base_url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(base_url + "/readyz").status_code == 200
    metrics = httpx.get(base_url + "/metrics").text
    for name in ("traitsweb_gateway_sessions", "traitsweb_gateway_polls_held", "traitsweb_gateway_messages_in_total",
                 "traitsweb_gateway_messages_out_total", "traitsweb_gateway_broker_reconnects",
                 "traitsweb_gateway_send_seconds_bucket"):
        assert name in metrics, name


def test_the_page_is_served_with_a_content_security_policy(base_url: str) -> None:
    page = httpx.get(base_url + "/")
    assert page.status_code == 200 and "<title>traitsweb chat</title>" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no third-party assets
    for asset in ("/static/app.js", "/static/style.css"):
        assert httpx.get(base_url + asset).status_code == 200


def test_logout_removes_the_participant_and_the_token_stops_working(base_url: str, new_client: Any) -> None:
    client, watcher = new_client(), new_client()
    client.login(f"leaver-{tag()}")
    watcher.login(f"watcher-{tag()}")
    until(watcher, lambda: client.id in watcher.state["participants"])
    assert client.logout().status_code == 200
    until(watcher, lambda: client.id not in watcher.state["participants"])
    replay = client.post("after logout")
    assert replay.status_code == 401 and replay.json()["error"] == "logged_out"


def test_idle_sessions_are_logged_out_across_replicas(make_stack: Any, web_stack: Stack | None, new_client: Any) -> None:
    if web_stack is None:
        pytest.skip("needs a local stack with a short idle timeout")
    env = {"model": {"TRAITSWEB_IDLE_TIMEOUT": "3"}, "gateway": {"TRAITSWEB_TOUCH_INTERVAL": "0.5"}}
    with make_stack(gateways=2, proxy=True, env=env) as stack:
        active = new_client(stack.gateway_urls, origin=stack.proxy_url)  # polls alternate between replicas
        idle = new_client(stack.proxy_url)
        active.login("active")
        idle.login("idle")
        until(active, lambda: idle.id in active.state["participants"])
        until(active, lambda: idle.id not in active.state["participants"], timeout=30)
        assert active.id in active.state["participants"]
        # every replica learns of the logout from the out topic, each at its own moment
        deadline = time.monotonic() + 10
        while (status := idle.post("too late").status_code) != 401 and time.monotonic() < deadline:
            active.poll(timeout=0.2)
        assert status == 401
