"""One anonymous client against one replica: every cheap request that costs the replica memory is bounded.

Each test talks to a gateway directly (one replica, no nginx) so that what it measures is that replica,
and reads the replica's RSS from ``/proc/<pid>/status``. Client addresses are given in
``X-Forwarded-For`` (what nginx sets; the gateway runs without uvicorn's proxy-header handling).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from runner.stack import Stack
from tests.webclient import WebClient

pytestmark = pytest.mark.stack

MiB = 1024 * 1024
TEXT = 2000  # the chat's longest message
UNLIMITED = "100000"


def rss(stack: Stack, name: str = "gateway-1") -> int:
    """The program's resident set, bytes."""
    with open(f"/proc/{stack.pid(name)}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def login(url: str, address: str, name: str = "flooder") -> httpx.Response:
    return httpx.post(url + "/api/login", json={"name": name}, headers={"X-Forwarded-For": address}, timeout=30)


def fill(client: WebClient, count: int) -> tuple[str, int, int]:
    """Post ``count`` messages of the longest size; (epoch, seq before, seq after) once all are applied."""
    reply = client.http.get(client.url("/api/poll"), params={"since": 0, "epoch": "", "timeout": 0}, headers=client.auth)
    first = reply.json()["seq"]
    run = uuid.uuid4().hex[:8]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda n: client.post(f"{run} {n} ".ljust(TEXT, "x")).status_code, range(count)))
    assert set(statuses) == {202}
    epoch, seq = reply.json()["epoch"], first
    deadline = time.monotonic() + 120
    while seq < first + count:  # each of our messages is one seq (others' log-ins may add more)
        assert time.monotonic() < deadline, f"only {seq - first} of {count} messages applied"
        body = client.http.get(client.url("/api/poll"), params={"since": seq, "epoch": epoch, "timeout": 5},
                               headers=client.auth).json()
        seq = body["seq"]
    return epoch, first, seq


@pytest.fixture(scope="module")
def big(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[tuple[Stack, WebClient, str, int, int]]:
    """One replica with 1,000 buffered 2 KB messages; the per-session rate limits lifted so that only the
    reply cache's bounds are tested."""
    env = {"gateway": {"TRAITSWEB_SEND_RATE": UNLIMITED, "TRAITSWEB_SEND_BURST": UNLIMITED,
                       "TRAITSWEB_POLL_RATE": UNLIMITED, "TRAITSWEB_POLL_BURST": UNLIMITED}}
    with make_stack(gateways=1, proxy=False, env=env) as stack, WebClient(stack.gateway_urls[0]) as client:
        client.login("filler")
        epoch, first, last = fill(client, 1000)
        yield stack, client, epoch, first, last


def test_polls_with_distinct_since_do_not_pin_the_replicas_memory(big: tuple[Stack, WebClient, str, int, int]) -> None:
    stack, client, epoch, first, last = big
    before = rss(stack)
    sinces = [first + n * 2 for n in range(500)]  # 500 distinct positions behind, all answered at once

    def poll(since: int) -> int:
        reply = client.http.get(client.url("/api/poll"), params={"since": since, "epoch": epoch, "timeout": 0},
                                headers=client.auth)
        assert reply.status_code == 200
        return len(reply.json()["messages"])

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(poll, sinces))
    after = rss(stack)
    print(f"500 polls with distinct since over {last - first} buffered 2 KB messages: "
          f"RSS {before / MiB:.0f} -> {after / MiB:.0f} MiB")
    assert counts[0] >= 999 and all(c >= 1 for c in counts)  # every reply was complete
    assert after - before < 100 * MiB


def test_a_websocket_frame_over_the_limit_closes_the_connection(big: tuple[Stack, WebClient, str, int, int]) -> None:
    stack, client, epoch, first, last = big
    url = stack.gateway_urls[0].replace("http://", "ws://") + f"/api/ws?token={client.token}&since={last}&epoch={epoch}"
    with ws_connect(url, max_size=None) as ws:
        ws.send("x" * 8192)  # the server reads nothing from clients: 4 KiB is plenty
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# -- rate limits, session caps and token expiry: default limits, short tokens ------------------------------------
TTL = 8.0


@pytest.fixture(scope="module")
def limited(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    env = {"gateway": {"TRAITSWEB_LOGIN_RATE": "1000", "TRAITSWEB_LOGIN_BURST": "1000",
                       "TRAITSWEB_SESSIONS_PER_ADDRESS": "5", "TRAITSWEB_MAX_SESSIONS": "30",
                       "TRAITSWEB_TOKEN_TTL": str(TTL)}}
    with make_stack(gateways=1, proxy=False, env=env) as stack:
        yield stack


def logged_in(url: str, address: str) -> dict[str, str]:
    reply = login(url, address)
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['session']}"}


def expect_limited(replies: list[httpx.Response], code: str, detail: str) -> None:
    statuses = {r.status_code for r in replies}
    assert 429 in statuses and statuses <= {200, 429}, statuses
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.json() == {"error": code, "detail": detail}
    assert int(refused.headers["retry-after"]) >= 1


def test_polls_answered_at_once_are_rate_limited(limited: Stack) -> None:
    url = limited.gateway_urls[0]
    auth = logged_in(url, "192.0.2.1")
    with httpx.Client(headers=auth, timeout=30) as http, ThreadPoolExecutor(8) as pool:
        # an unknown epoch is answered at once (a reset with the full state)
        replies = list(pool.map(lambda n: http.get(url + "/api/poll", params={"epoch": f"e{n}", "timeout": 0}),
                                range(300)))
        expect_limited(replies, "rate_limited", "too many polls answered at once")
        now = next(r for r in replies if r.status_code == 200).json()
        waiting = http.get(url + "/api/poll", params={"since": now["seq"], "epoch": now["epoch"], "timeout": 0})
        assert waiting.status_code == 200  # a poll that waits costs nothing and is never limited


def test_state_reads_are_rate_limited(limited: Stack) -> None:
    url = limited.gateway_urls[0]
    auth = logged_in(url, "192.0.2.2")
    with httpx.Client(headers=auth, timeout=30) as http, ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda n: http.get(url + "/api/state"), range(200)))
    expect_limited(replies, "rate_limited", "too many state reads")


def test_logins_from_one_address_are_capped(limited: Stack) -> None:
    url = limited.gateway_urls[0]
    replies = [login(url, "198.51.100.7") for _ in range(8)]
    assert [r.status_code for r in replies] == [200] * 5 + [429] * 3
    assert replies[5].json() == {"error": "too_many_sessions", "detail": "at most 5 sessions per client address; "
                                 "log out of one, or wait until one expires"}
    assert int(replies[5].headers["retry-after"]) >= 1
    assert login(url, "198.51.100.8").status_code == 200  # another address is not affected


def test_logins_from_one_ipv6_64_are_capped_together(limited: Stack) -> None:
    url = limited.gateway_urls[0]
    statuses = [login(url, f"2001:db8:5:6::{n:x}").status_code for n in range(1, 9)]
    assert statuses == [200] * 5 + [429] * 3
    assert login(url, "2001:db8:5:7::1").status_code == 200  # the next /64


def test_sse_stream_ends_when_its_token_expires(limited: Stack) -> None:
    url = limited.gateway_urls[0]
    auth = logged_in(url, "192.0.2.3")
    events: list[str] = []
    deadline = time.monotonic() + TTL + 30
    with httpx.stream("GET", url + "/api/events", headers=auth, timeout=30) as stream:
        for line in stream.iter_lines():
            events.append(line)
            assert time.monotonic() < deadline, f"still open past expiry: {events[-5:]}"
    assert events[-3:-1] == ["event: error", 'data: {"error":"expired","detail":"the session token has expired; log in again"}']


def test_websocket_closes_when_its_token_expires(limited: Stack) -> None:
    url = limited.gateway_urls[0]
    token = logged_in(url, "192.0.2.4")["Authorization"].removeprefix("Bearer ")
    with ws_connect(url.replace("http://", "ws://") + f"/api/ws?token={token}", max_size=None) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=TTL + 30)
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "expired")


def test_sessions_are_capped_in_all(limited: Stack) -> None:
    """Last in this module: it fills the model up to the global cap."""
    url = limited.gateway_urls[0]
    statuses: list[int] = []
    for n in range(40):  # 4 sessions from each of 10 addresses: under the per-address cap
        statuses.append(login(url, f"203.0.113.{n // 4}").status_code)
        if statuses[-1] != 200:
            break
    assert statuses[-1] == 503, statuses
    refused = login(url, "203.0.113.200")
    assert refused.status_code == 503 and refused.json()["error"] == "too_many_sessions"
    assert int(refused.headers["retry-after"]) >= 1


# -- slow readers ----------------------------------------------------------------------------------------------
TCP_ESTABLISHED = 1


def _raw(url: str, request: bytes) -> socket.socket:
    """A connection that sends ``request`` and never reads (a tiny receive window, so data stays with the server)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(request)
    return sock


def _tcp_state(sock: socket.socket) -> int:
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


def test_readers_that_do_not_read_are_dropped(make_stack: Callable[..., AbstractContextManager[Stack]]) -> None:
    env = {"gateway": {"TRAITSWEB_SEND_RATE": UNLIMITED, "TRAITSWEB_SEND_BURST": UNLIMITED,
                       "TRAITSWEB_LOGIN_RATE": UNLIMITED, "TRAITSWEB_LOGIN_BURST": UNLIMITED,
                       "TRAITSWEB_WRITE_BUFFER_MAX": str(256 * 1024), "TRAITSWEB_WRITE_STALL": "2"},
           # resets as big as the whole state (snapshots are bounded to 256 KiB by default, under what this
           # test needs to see pinned): the guard, not the snapshot bound, must free the non-readers' copies
           "*": {"TRAITSWEB_SNAPSHOT_MAX_BYTES": str(64 * 1024 * 1024)}}
    with make_stack(gateways=1, proxy=False, env=env) as stack, WebClient(stack.gateway_urls[0]) as client:
        url = stack.gateway_urls[0]
        client.login("filler")
        # a state of ~6 MB: every reset is bigger than the bound plus what the kernel takes (loopback's
        # send buffer starts at ~20 segments of 64 KiB)
        fill(client, 3000)
        tokens = [logged_in(url, "192.0.2.9")["Authorization"].removeprefix("Bearer ") for _ in range(5)]
        before = rss(stack)
        host = url.removeprefix("http://")
        key = base64.b64encode(os.urandom(16)).decode()

        def request(n: int) -> bytes:
            token = tokens[n % len(tokens)]  # 6 streams a session: under its limit of held waits
            if n % 2:
                return (f"GET /api/events?epoch=stale HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                        "Accept: text/event-stream\r\n\r\n").encode()
            return (f"GET /api/ws?epoch=stale&token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()

        def wave() -> int:
            """20 clients that never read; the replica's RSS once it has dropped them all."""
            readers = [_raw(url, request(n)) for n in range(20)]
            try:
                deadline = time.monotonic() + 30
                while any(_tcp_state(s) == TCP_ESTABLISHED for s in readers):
                    open_ = sum(_tcp_state(s) == TCP_ESTABLISHED for s in readers)
                    assert time.monotonic() < deadline, (
                        f"{open_} of 20 non-reading clients still connected; RSS {before / MiB:.0f} -> "
                        f"{rss(stack) / MiB:.0f} MiB")
                    time.sleep(0.1)
                return rss(stack)
            finally:
                for sock in readers:
                    sock.close()

        waves = [wave() for _ in range(3)]
        print(f"3 waves of 20 non-reading streams, ~6 MB resets: RSS {before / MiB:.0f} MiB, after each wave "
              + ", ".join(f"{w / MiB:.0f}" for w in waves) + " MiB")
        assert waves[-1] - before < 100 * MiB  # 60 readers kept would hold 60 unsent resets (~200 MB)
        assert client.poll(timeout=0) is not None  # the replica still serves readers that read
