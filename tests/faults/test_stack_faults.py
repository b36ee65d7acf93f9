"""Faults under load from several clients: each ends with every accepted message present exactly once,
in order, in every client's view and in the model's state. Figures go to the test output (-s) and
docs/reliability.md."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runner.stack import Stack, stomp_handshake
from tests.faults.load import ChatLoad

pytestmark = pytest.mark.stack

HEARTBEAT_MS = 5000


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": str(HEARTBEAT_MS)}, "gateway": {"TRAITSWEB_SEND_RATE": "1000", "TRAITSWEB_LOGIN_RATE": "1000", "TRAITSWEB_LOGIN_BURST": "1000",
                                                                         "TRAITSWEB_SESSIONS_PER_ADDRESS": "1000"}}
    with make_stack(gateways=3, proxy=True, env=env) as stack:
        yield stack


@pytest.fixture(autouse=True)
def healthy(stack: Stack) -> None:
    stack.wait_ready(90)


def report(name: str, load: ChatLoad, extra: str = "") -> None:
    print(f"\n[reliability] {name}: {load.report()}{extra}")


def test_sigkill_one_of_three_gateways(stack: Stack) -> None:
    with ChatLoad(stack.proxy_url) as load:
        load.more(40)
        stack.kill("gateway-2", signal.SIGKILL)
        load.more(40)
        order = load.settle()
        assert len(order) == len(set(order))
        report("SIGKILL gateway-2 of 3", load)


@pytest.mark.parametrize("how", ["graceful", "kill -9"])
def test_rabbitmq_restart(stack: Stack, how: str) -> None:
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        began = time.monotonic()
        if how == "graceful":
            stack.stop("rabbitmq")
            stack.start_program("rabbitmq")
        else:
            stack.kill("rabbitmq", signal.SIGKILL)
        while not stomp_handshake("127.0.0.1", stack.stomp_port, "model", stack.secrets["TRAITSWEB_MODEL_PASSWORD"]):
            assert time.monotonic() - began < 90
            time.sleep(0.1)
        back = time.monotonic()
        stack.wait_ready(60)  # every gateway subscribed again and holding the state
        healed = time.monotonic() - back
        load.more(30)
        load.settle()
        report(f"RabbitMQ restart ({how})", load, f"; services ready {healed:.1f} s after the broker was back")


def test_sigkill_the_model_mid_stream(stack: Stack) -> None:
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        stack.kill("model", signal.SIGKILL)
        load.more(60)
        load.settle()
        report("SIGKILL the model", load)


def test_frozen_broker_gives_503_and_recovers(stack: Stack) -> None:
    urls = stack.gateway_urls
    with ChatLoad(stack.proxy_url, clients=2) as load:
        load.more(10)
        vm = stack.kill("rabbitmq", signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            noticed = {}
            while len(noticed) < len(urls):  # each replica's /readyz turns 503 when its heart-beats stop
                for url in urls:
                    if url not in noticed and httpx.get(url + "/readyz").status_code == 503:
                        noticed[url] = time.monotonic() - frozen
                assert time.monotonic() - frozen < 2 * HEARTBEAT_MS / 1000 + 2, f"not noticed within two heart-beats: {noticed}"
                time.sleep(0.1)
            probe = load.members[0].client
            response = probe.send("entry_field", "while frozen")
            assert response.status_code == 503 and response.json()["error"] in ("broker_unavailable", "not_ready")
            assert "retry-after" in response.headers
            while time.monotonic() - frozen < 30:
                time.sleep(0.5)
        finally:
            os.kill(vm, signal.SIGCONT)
        stack.wait_ready(90)
        load.more(20)
        load.settle()
        report("broker frozen 30 s (SIGSTOP)", load,
               f"; replicas noticed after {', '.join(f'{v:.1f}' for v in sorted(noticed.values()))} s")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_vanishing_and_stuck_clients_leave_no_residue(stack: Stack) -> None:
    url = stack.gateway_urls[0]
    pid = stack.pid("gateway-1")
    with httpx.Client(timeout=10) as warm:  # warm up allocator and caches before the baseline
        token = warm.post(url + "/api/login", json={"name": "baseline"}).json()["session"]
        warm.get(url + "/api/poll", params={"timeout": 0}, headers={"Authorization": f"Bearer {token}"})
    base_fds, base_rss = fds(pid), rss_kib(pid)

    tokens = []
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=400)) as login:
        for n in range(150):
            tokens.append(login.post(url + "/api/login", json={"name": f"churn{n}"}).json()["session"])
    peak = 0
    for round_ in range(3):  # connect, start a long-poll, vanish mid-poll
        clients = [httpx.Client(timeout=0.3) for _ in tokens]
        for client, token in zip(clients, tokens):
            try:
                client.get(url + "/api/poll", params={"timeout": 20}, headers={"Authorization": f"Bearer {token}"})
            except httpx.TimeoutException:
                pass
        peak = max(peak, fds(pid))
        for client in clients:
            client.close()
    # stuck clients: logged in and never poll again (the tokens above); wait for the held polls to end
    deadline = time.monotonic() + 60
    while fds(pid) > base_fds + 2 or "traitsweb_gateway_polls_held 0.0" not in httpx.get(url + "/metrics").text:
        assert time.monotonic() < deadline, f"fds {fds(pid)} (baseline {base_fds}, peak {peak})"
        time.sleep(0.5)
    growth = rss_kib(pid) - base_rss
    print(f"\n[reliability] churn: 150 sessions x 3 rounds of vanishing mid-poll; fds {base_fds} -> peak {peak} "
          f"-> {fds(pid)}; RSS growth {growth} KiB")
    assert growth < 30 * 1024, f"gateway RSS grew by {growth} KiB"
