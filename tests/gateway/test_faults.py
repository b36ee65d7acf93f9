"""A gateway replica killed (SIGKILL) while clients chat through the proxy: they carry on, nothing lost or doubled."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from runner.stack import Stack
from tests.webclient import WebClient

pytestmark = pytest.mark.stack


def poll_through_faults(client: WebClient, timeout: float) -> None:
    """One long-poll as the page does it: a failed poll (replica gone, 502 from the proxy) is retried."""
    try:
        client.poll(timeout=timeout)
    except (httpx.TransportError, httpx.HTTPStatusError) as exc:
        if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code not in (502, 503, 504):
            raise
        time.sleep(0.1)  # the page's back-off before it polls again (not a synchronisation)


def test_clients_carry_on_when_a_replica_is_killed_mid_run(local_stack: Stack, new_client: Any) -> None:
    run = uuid.uuid4().hex[:8]
    clients = [new_client(local_stack.proxy_url) for _ in range(3)]
    for n, client in enumerate(clients):
        client.login(f"survivor{n}-{run}")
    sent: list[str] = []
    try:
        for n in range(30):
            if n == 10:
                local_stack.kill("gateway-1")  # supervisord restarts it; meanwhile nginx uses gateway-2
            text = f"{run} {n}"
            assert clients[n % 3].send_reliably("entry_field", text).status_code == 202
            sent.append(text)
            for client in clients:  # keep every client's poll loop going while it happens
                poll_through_faults(client, timeout=0.05)
        for client in clients:
            deadline = time.monotonic() + 60
            while [t for t in client.texts() if t.startswith(run)] != sent:
                assert time.monotonic() < deadline, f"missing: {set(sent) - set(client.texts())}"
                poll_through_faults(client, timeout=2)
    finally:
        local_stack.wait_ready(60, ["gateway-1"])
    for client in clients:
        seqs = [m["seq"] for m in client.received]
        assert seqs == sorted(set(seqs)), "a message came twice or out of order"
        assert [t for t in client.texts() if t.startswith(run)] == sent  # each exactly once, in order
