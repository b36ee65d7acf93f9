"""Faults under load from several clients: each ends with every accepted message present exactly once,
in order, in every client's view and in the model's state. Figures go to the test output (-s) and
docs/reliability.md."""

from __future__ import annotations

import os
import select
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runner.stack import Stack, stomp_handshake
from tests.faults.freeze import FREEZE, frozen
from tests.faults.load import GATEWAY_LIMITS, ChatLoad
from tests.metrics import gauge
from tests.wait import wait_until

pytestmark = pytest.mark.stack

HEARTBEAT_MS = 5000


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": str(HEARTBEAT_MS)}, "gateway": GATEWAY_LIMITS}
    with make_stack(gateways=3, proxy=True, env=env) as stack:
        yield stack


@pytest.fixture(autouse=True)
def healthy(stack: Stack) -> None:
    stack.wait_ready(90)


def report(name: str, load: ChatLoad, extra: str = "") -> None:
    print(f"\n[reliability] {name}: {load.report()}{extra}")


def test_sigkill_one_of_three_gateways(stack: Stack) -> None:
    # resets are legitimate here: the restarted replica starts from a snapshot and cannot bridge a client
    # that is behind it; each must extend what the client had (ChatLoad checks)
    with ChatLoad(stack.proxy_url, resets_expected=True) as load:
        load.more(40)
        load.fault()
        stack.kill("gateway-2", signal.SIGKILL)
        load.recovered()  # nginx passes the next requests to the two others
        load.more(40)
        load.settle()
        report("SIGKILL gateway-2 of 3", load)


def broker_up(stack: Stack) -> bool:
    return stomp_handshake("127.0.0.1", stack.stomp_port, "model", stack.secrets["TRAITSWEB_MODEL_PASSWORD"])


@pytest.mark.parametrize("how", ["graceful", "kill -9"])
def test_rabbitmq_restart(stack: Stack, how: str) -> None:
    # resets are legitimate: messages published while a replica re-subscribes never reach it, so it reloads
    with ChatLoad(stack.proxy_url, resets_expected=True) as load:
        load.more(30)
        load.fault()
        if how == "graceful":
            stack.stop("rabbitmq")
            stack.start_program("rabbitmq")
        else:
            stack.kill("rabbitmq", signal.SIGKILL)
        wait_until(lambda: broker_up(stack), timeout=90, interval=0.1, what="the broker back")
        load.recovered()
        back = time.monotonic()
        stack.wait_ready(60)  # every gateway subscribed again and holding the state
        healed = time.monotonic() - back
        load.more(30)
        load.settle()
        report(f"RabbitMQ restart ({how})", load, f"; services ready {healed:.1f} s after the broker was back")


def test_sigkill_the_model_mid_stream(stack: Stack) -> None:
    # no reset: the replicas keep their state, and the restarted model continues the same epoch and seq
    with ChatLoad(stack.proxy_url) as load:
        load.more(30)
        load.fault()
        stack.kill("model", signal.SIGKILL)
        load.recovered()  # sends still get 202 (the durable queue holds them); polls never depended on it
        load.more(60)
        load.settle()
        report("SIGKILL the model", load)


def test_frozen_broker_gives_503_and_recovers(stack: Stack) -> None:
    urls = stack.gateway_urls
    with ChatLoad(stack.proxy_url, clients=2, resets_expected=True) as load:
        load.more(10)
        load.fault()
        with frozen(stack, "rabbitmq") as began:
            noticed: dict[str, float] = {}

            def all_noticed() -> bool:  # each replica's /readyz turns 503 when its heart-beats stop
                for url in urls:
                    if url not in noticed and httpx.get(url + "/readyz").status_code == 503:
                        noticed[url] = time.monotonic() - began
                return len(noticed) == len(urls)

            wait_until(all_noticed, timeout=2 * HEARTBEAT_MS / 1000 + 2, interval=0.1,
                       what=lambda: f"not noticed within two heart-beats: {noticed}")
            probe = load.members[0].client
            response = probe.send("entry_field", "while frozen")
            assert response.status_code == 503 and response.json()["error"] in ("broker_unavailable", "not_ready")
            assert "retry-after" in response.headers
        load.recovered()
        stack.wait_ready(90)
        load.more(20)
        load.settle()
        report(f"broker frozen {FREEZE:.0f} s (SIGSTOP)", load,
               f"; replicas noticed after {', '.join(f'{v:.1f}' for v in sorted(noticed.values()))} s")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


CHURN_SESSIONS = 150


def polls_held(url: str) -> float:
    return gauge(url, "traitsweb_gateway_polls_held")


def hold_polls(url: str, tokens: list[str]) -> list[socket.socket]:
    """One long-poll per token, each on its own connection, until the replica holds every one of them.

    A poll answered at once fails the test unless it is a ``200`` carrying news (the state moved since
    ``/api/state``): an immediate 401 or 429 would otherwise pass for a vanished client.
    """
    state = httpx.get(url + "/api/state", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=10).json()
    host, port = url.removeprefix("http://").split(":")
    query = f"since={state['seq']}&epoch={state['epoch']}&timeout=20"
    sockets = []
    for token in tokens:
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(f"GET /api/poll?{query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        sockets.append(sock)
    answered: dict[int, str] = {}

    def all_held_or_answered() -> bool:
        readable, _, _ = select.select([s for s in sockets if s.fileno() not in answered], [], [], 0)
        for sock in readable:
            reply = sock.recv(65536).decode(errors="replace")
            answered[sock.fileno()] = reply
            assert reply.startswith("HTTP/1.1 200 ") and '"messages":[{' in reply, f"poll answered at once: {reply[:300]}"
        return polls_held(url) + len(answered) >= len(tokens)

    wait_until(all_held_or_answered, timeout=60, interval=0.1, what=lambda: f"{polls_held(url)} polls held, {len(answered)} answered")
    assert len(answered) <= len(tokens) // 10, f"{len(answered)} of {len(tokens)} polls answered at once"
    return sockets


def test_vanishing_and_stuck_clients_leave_no_residue(stack: Stack) -> None:
    url = stack.gateway_urls[0]
    pid = stack.pid("gateway-1")
    with httpx.Client(timeout=10) as warm:  # warm up allocator and caches before the baseline
        token = warm.post(url + "/api/login", json={"name": "baseline"}).json()["session"]
        warm.get(url + "/api/poll", params={"timeout": 0}, headers={"Authorization": f"Bearer {token}"})
    wait_until(lambda: polls_held(url) == 0, timeout=30, what="no poll held before the baseline")
    base_fds, base_rss = fds(pid), rss_kib(pid)

    tokens = []
    with httpx.Client(timeout=10) as login:
        for n in range(CHURN_SESSIONS):
            response = login.post(url + "/api/login", json={"name": f"churn{n}"})
            assert response.status_code == 200, f"login {n}: {response.status_code} {response.text[:200]}"
            tokens.append(response.json()["session"])
    peak, let_go = 0, 0.0
    for _ in range(3):  # connect, start a long-poll, vanish mid-poll
        sockets = hold_polls(url, tokens)
        peak = max(peak, fds(pid))
        assert peak >= base_fds + len(tokens) * 9 // 10, f"fds {base_fds} -> {peak}: the polls were not held open"
        for sock in sockets:
            sock.close()
        vanished = time.monotonic()  # each round's polls must be let go before the next is counted
        wait_until(lambda: polls_held(url) == 0, timeout=60, interval=0.2, what=lambda: f"{polls_held(url)} polls held")
        let_go = max(let_go, time.monotonic() - vanished)
    # stuck clients: logged in and never poll again (the tokens above); their connections must be gone too
    wait_until(lambda: fds(pid) <= base_fds + 2, timeout=60, interval=0.5,
               what=lambda: f"fds {fds(pid)} (baseline {base_fds}, peak {peak})")
    growth = rss_kib(pid) - base_rss
    print(f"\n[reliability] churn: {CHURN_SESSIONS} sessions x 3 rounds of vanishing mid-poll; fds {base_fds} -> peak {peak} "
          f"-> {fds(pid)}; vanished polls let go within {let_go:.1f} s; RSS growth {growth} KiB")
    assert growth < 30 * 1024, f"gateway RSS grew by {growth} KiB"
