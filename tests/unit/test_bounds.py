"""The gateway's memory and session bounds, in-process: the hub's reply cache, session caps per address, the
bound on a connection's unsent bytes (over a real socket pair)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from services.gateway import slowreaders
from services.gateway.errors import ApiError
from services.gateway.hub import Hub
from services.gateway.sessions import SessionCaps, address_key
from tests.unit.test_hub import ALICE, said, snapshot


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _hub(count: int, text: str = "hi", **bounds: int) -> Hub:
    hub = Hub(buffer_size=100, on_gap=lambda: None, **bounds)
    hub.load_snapshot(snapshot())
    for seq in range(1, count + 1):
        hub.feed(said(seq, f"{seq} {text}"))
    return hub


def test_the_reply_cache_keeps_the_most_recently_used_replies_only() -> None:
    async def main() -> None:
        hub = await _hub(10, reply_cache_count=3)
        first = [hub.collect(since, "e1", ALICE) for since in range(10)]
        assert hub.collect(9, "e1", ALICE) is first[9]  # among the last 3 used
        again = hub.collect(0, "e1", ALICE)
        assert again is not first[0] and again.body == first[0].body  # evicted, built again, the same

    run(main())


def test_a_reply_too_big_for_the_cache_is_built_on_demand_and_not_kept() -> None:
    async def main() -> None:
        hub = await _hub(10, text="x" * 100, reply_cache_bytes=8000)  # an eighth: 1,000 bytes
        far = hub.collect(0, "e1", ALICE)
        assert len(far.body) > 1000 and hub.collect(0, "e1", ALICE) is not far
        near = hub.collect(9, "e1", ALICE)
        assert hub.collect(9, "e1", ALICE) is near

    run(main())


def test_answers_at_once_when_behind_or_in_another_epoch() -> None:
    async def main() -> None:
        hub = await _hub(3)
        assert hub.answers_at_once(2, "e1") and hub.answers_at_once(3, "other")
        assert not hub.answers_at_once(3, "e1")

    run(main())


@pytest.mark.parametrize(("address", "key"), [
    ("192.0.2.1", "192.0.2.1"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("[2001:db8::1]", "2001:db8::/64"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("not an address", "not an address"),
])
def test_a_cap_counts_an_ipv4_address_or_an_ipv6_64(address: str, key: str) -> None:
    assert address_key(address) == key


def test_sessions_per_address_count_until_they_leave_the_model() -> None:
    now = [1000.0]
    caps = SessionCaps(per_address=2, total=100, clock=lambda: now[0])
    participants: dict[str, str] = {}
    caps.admit("192.0.2.1", "s1", participants)  # not yet confirmed by the model: counts (grace)
    participants["s1"] = "alice"
    caps.admit("192.0.2.1", "s2", participants)
    with pytest.raises(ApiError) as refused:
        caps.admit("192.0.2.1", "s3", participants)
    assert (refused.value.status, refused.value.code) == (429, "too_many_sessions")
    caps.admit("192.0.2.2", "s4", participants)  # another address
    now[0] += 60  # s2's grace is long over and the model never had it: s1 alone counts
    caps.admit("192.0.2.1", "s5", participants)
    with pytest.raises(ApiError):
        caps.admit("192.0.2.1", "s6", participants)  # s1 and s5 (in its grace)
    del participants["s1"]  # logged out, or idle past the model's timeout
    caps.admit("192.0.2.1", "s7", participants)


def test_sessions_in_all_are_the_models_participants() -> None:
    caps = SessionCaps(per_address=10, total=2)
    with pytest.raises(ApiError) as refused:
        caps.admit("192.0.2.1", "s3", {"s1": "a", "s2": "b"})
    assert (refused.value.status, refused.value.code) == (503, "too_many_sessions")


class _Lost(asyncio.Protocol):
    def __init__(self) -> None:
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def _connection(stall: float) -> tuple[asyncio.Transport, _Lost, socket.socket]:
    """A transport whose protocol has the slow-reader guard, and the other end of its socket."""
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    guarded = type("Guarded", (slowreaders._StallGuard, _Lost), {"max_buffer": 64 * 1024, "stall": stall})
    transport, protocol = await asyncio.get_running_loop().create_connection(guarded, sock=ours)
    return transport, protocol, theirs


def test_a_client_that_does_not_read_is_dropped_after_the_grace() -> None:
    async def main() -> None:
        transport, protocol, theirs = await _connection(stall=0.2)
        with theirs:
            transport.write(b"x" * (8 * 1024 * 1024))
            await asyncio.wait_for(protocol.lost, 30)
            assert transport.get_write_buffer_size() == 0  # nothing held any more

    run(main())


def test_a_client_that_reads_a_reply_bigger_than_the_bound_gets_all_of_it() -> None:
    size = 8 * 1024 * 1024

    def read(sock: socket.socket, got: list[int]) -> None:
        while got[0] < size:
            got[0] += len(sock.recv(1 << 20))

    async def main() -> None:
        transport, protocol, theirs = await _connection(stall=5.0)
        with theirs:
            got = [0]
            reader = threading.Thread(target=read, args=(theirs, got))
            reader.start()
            transport.write(b"x" * size)
            await asyncio.to_thread(reader.join, 30)
            assert got[0] == size and not protocol.lost.done()
            transport.close()
            await asyncio.wait_for(protocol.lost, 30)

    run(main())
