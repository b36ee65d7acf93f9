"""The gateway's HTTP API: in process on the memory broker (``api`` is ``inproc``), and on a real stack
(replicas, nginx, RabbitMQ, the model: ``api`` is ``stack``, and the tests that take ``local_stack``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from runner.stack import Stack
from tests.gateway.conftest import Api, Refused
from tests.webclient import WebClient


def until(client: WebClient, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Long-poll until ``done()``; bounded."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"condition not reached; view has {client.texts()[-5:]}"
        client.poll(timeout=min(5.0, max(0.1, deadline - time.monotonic())))


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_sessions_chat_and_rate_and_all_see_the_same_ordered_history(api: Api, clients: Any) -> None:
    run = tag()
    clients = [clients() for _ in range(3)]
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
    state = api.http.get(api.url + "/api/state", headers=clients[0].auth).json()
    for client in clients:
        assert client.state["messages"] == [m for m in state["state"]["messages"] if m in client.state["messages"]]
        assert [t for t in client.texts() if t.startswith(run)] == expected
    mine = {c.id: r for c, r in zip(clients, (3, 4, 5))}
    assert {k: v for k, v in state["state"]["connection_ratings"].items() if k in mine} == mine


@pytest.mark.stack
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


def test_private_errors_reach_only_their_session(api: Api, clients: Any) -> None:
    from tests.stompclient import Peer

    if api.broker_url is None:
        pytest.skip("needs the broker of the local stack (TRAITSWEB_BASE_URL is set)")
    alice, bob = clients(), clients()
    alice.login("alice")
    bob.login("bob")
    with Peer(api.broker_url) as peer:  # what a gateway would forward, bypassing its checks
        msg_id = peer.write(alice.id, "rating_selector", 42)
        marker = peer.write(bob.id, "entry_field", f"marker {tag()}")
    until(alice, lambda: any(e["msg_id"] == msg_id for e in alice.errors))
    until(bob, lambda: any(m.get("trait") == "messages" for m in bob.received))
    until(alice, lambda: any(m.get("trait") == "messages" for m in alice.received))
    assert all(m.get("to") in (None, bob.id) for m in bob.received)
    assert not bob.errors and marker


@pytest.mark.stack
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


def test_sse_in_process_streams_batches_ends_at_logout_and_resumes(inproc_api: Api) -> None:
    """The test client returns a response once it ends: a logout ends the stream (``event: logged_out``)."""
    import threading

    api = inproc_api

    def held() -> int:
        metrics = api.http.get("/metrics").text
        return int(float(metrics.split("\ntraitsweb_gateway_polls_held ")[1].split()[0]))

    def stream(client: WebClient, text: str, last_event_id: str | None = None) -> list[tuple[str, str, str]]:
        """Open the stream, send ``text``, log out; the stream's events as (id, event, data)."""
        extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
        before, replies = held(), []
        reader = threading.Thread(target=lambda: replies.append(api.http.get(
            "/api/events", params={"epoch": client.epoch, "since": client.seq},
            headers={**client.auth, "Origin": api.url, **extra})))
        reader.start()
        deadline = time.monotonic() + 10
        while held() <= before:  # the stream is open and waiting
            assert time.monotonic() < deadline and reader.is_alive()
            time.sleep(0.01)
        assert client.post(text).status_code == 202
        assert client.logout().status_code == 200
        reader.join(30)
        (reply,) = replies
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        events = []
        for block in reply.text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
            if "data" in fields:
                events.append((fields.get("id", ""), fields.get("event", ""), fields["data"]))
        assert events[-1][1] == "logged_out"
        return events

    def texts(events: list[tuple[str, str, str]]) -> list[tuple[int, str]]:
        return [(m["seq"], m["added"][0]["text"]) for _, kind, data in events if kind == "batch"
                for m in json.loads(data)["messages"] if m.get("trait") == "messages" and m["added"]]

    first, second = inproc_api.new_client(), inproc_api.new_client()  # share the app's client: nothing to close
    first.login(f"sse-{tag()}")
    events = stream(first, "sse one")
    assert [t for _, t in texts(events)] == ["sse one"]
    resume_from = next(i for i, kind, data in events if kind == "batch" and "sse one" in data)
    second.login(f"sse-{tag()}")  # resumes the first's position: ids are seqs, the same for every session
    resumed = texts(stream(second, "sse two", last_event_id=resume_from))
    assert [t for _, t in resumed] == ["sse two"] and all(seq > int(resume_from) for seq, _ in resumed)


def test_websocket_delivers_the_same_batches(api: Api, clients: Any) -> None:
    client = clients()
    client.login(f"ws-{tag()}")
    text = f"over ws {tag()}"
    with api.websocket(f"epoch={client.epoch}&since={client.seq}", {**client.auth, "Origin": api.url}) as recv:
        assert client.post(text).status_code == 202
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            client.apply(recv())
            if text in client.texts():
                break
        assert text in client.texts()


def test_websocket_refuses_a_foreign_origin(api: Api, clients: Any) -> None:
    client = clients()
    client.login(f"ws-evil-{tag()}")
    with pytest.raises(Refused):
        with api.websocket("", {**client.auth, "Origin": "http://evil.example"}) as recv:
            recv()


def test_openapi_and_operations_endpoints(api: Api) -> None:
    spec = api.http.get(api.url + "/openapi.json").json()
    for path in ("/api/login", "/api/send", "/api/poll", "/api/state", "/api/logout", "/api/events",
                 "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    # bodies and queries are described by the models that validate them
    send = spec["paths"]["/api/send"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert send["required"] == ["trait", "value"] and send["additionalProperties"] is False
    login = spec["paths"]["/api/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert login["required"] == ["name"]
    poll = {p["name"]: p["schema"] for p in spec["paths"]["/api/poll"]["get"]["parameters"]}
    assert {"since", "epoch", "timeout"} <= set(poll) and poll["since"]["minimum"] == 0
    assert spec["paths"]["/api/state"]["get"]["responses"]["401"]["content"]["application/json"]
    assert api.http.get(api.url + "/docs").status_code == 200
    assert api.http.get(api.url + "/healthz").json() == {"status": "ok"}
    assert api.http.get(api.url + "/readyz").status_code == 200
    metrics = api.http.get(api.url + "/metrics").text
    for name in ("traitsweb_gateway_sessions", "traitsweb_gateway_polls_held", "traitsweb_gateway_messages_in_total",
                 "traitsweb_gateway_messages_out_total", "traitsweb_gateway_broker_reconnects",
                 "traitsweb_gateway_from_journal", "traitsweb_gateway_send_seconds_bucket"):
        assert name in metrics, name


def test_the_page_is_served_with_a_content_security_policy(api: Api) -> None:
    page = api.http.get(api.url + "/")
    assert page.status_code == 200 and "<title>traitsweb chat</title>" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no third-party assets
    for asset in ("/static/app.js", "/static/style.css"):
        assert api.http.get(api.url + asset).status_code == 200
    head = api.http.head(api.url + "/")  # load balancers' and people's `curl -I` checks
    assert head.status_code == 200 and head.headers["content-security-policy"] == csp


def test_logout_removes_the_participant_and_the_token_stops_working(api: Api, clients: Any) -> None:
    client, watcher = clients(), clients()
    client.login(f"leaver-{tag()}")
    watcher.login(f"watcher-{tag()}")
    until(watcher, lambda: client.id in watcher.state["participants"])
    assert client.logout().status_code == 200
    until(watcher, lambda: client.id not in watcher.state["participants"])
    replay = client.post("after logout")
    assert replay.status_code == 401 and replay.json()["error"] == "logged_out"


@pytest.mark.stack
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
