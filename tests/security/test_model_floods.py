"""What a leaked desktop password can make the model do is bounded: its sessions, and its snapshots.

The model on the in-memory broker, as ``python -m services.model`` wires it; peers send as the gateway
and desktop users do. Control frames are handled in queue order, and the memory broker hands one
client its frames in the order they were sent to it, so a login sent after the others, once seen,
tells that they were all handled and their answers are in.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.inproc import model_service
from tests.stompclient import Peer
from traitsweb import protocol

Peers = Callable[[str], Peer]


@pytest.fixture
def served(tmp_path: Path) -> Callable[..., contextlib.AbstractContextManager[Peers]]:
    """``served(**model_settings)``: a model on a fresh memory broker; inside, ``peer(user)`` connects one."""

    @contextlib.contextmanager
    def serve(**options: object) -> Iterator[Peers]:
        name = f"floods-{uuid.uuid4().hex[:8]}"
        with model_service(f"memory://model@{name}", tmp_path, **options), contextlib.ExitStack() as peers:
            yield lambda user: peers.enter_context(Peer(f"memory://{user}@{name}", name=user))

    return serve


def handled(peer: Peer) -> str:
    """Send a gateway-like login behind everything sent so far; return once its change was seen."""
    session = peer.login("marker")
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
    return session


def participants(peer: Peer) -> dict[str, str]:
    state: dict[str, str] = peer.snapshot()["state"]["participants"]
    return state


def test_a_desktop_user_holds_at_most_its_cap_of_sessions(served: Callable[..., contextlib.AbstractContextManager[Peers]],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="services.model.service")
    with served(desktop_sessions_max=3) as peer:
        desktop, gateway = peer("desktop"), peer("gateway")
        before = gateway.snapshot()
        sessions = [desktop.login(f"desk-{n}") for n in range(5)]
        desktop.login("desk-0 again", sessions[0])  # logging in again to its own session is no new session
        handled(gateway)
        after = gateway.snapshot()
        held = {s for s in after["state"]["participants"] if s in sessions}
        assert held == set(sessions[:3])
        assert after["state"]["participants"][sessions[0]] == "desk-0"  # a login again renames nothing
        # the refused logins used no seq: three logins, and the gateway's marker
        assert after["seq"] == before["seq"] + 4
        refusals = [r.getMessage() for r in caplog.records if "too_many_sessions" in r.getMessage()]
        assert len(refusals) == 2 and "desktop holds 3 live sessions, at most 3" in refusals[0]

        desktop.control({"type": "logout", "id": sessions[1]})  # a session ended frees its place
        again = desktop.login("desk-again")
        browsers = [gateway.login(f"browser-{n}") for n in range(5)]  # gateways have no such cap
        handled(gateway)
        now = participants(gateway)
        assert again in now and sessions[1] not in now and set(browsers) <= set(now)


def test_snapshot_requests_are_rate_limited_per_sender(served: Callable[..., contextlib.AbstractContextManager[Peers]],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="services.model.service")
    # a rate so low that no token comes back during the test: what is answered is the burst
    with served(desktop_snapshot_rate=1e-6, desktop_snapshot_burst=3) as peer:
        desktop, gateway = peer("desktop"), peer("gateway")
        ask = {**protocol.SEND_HEADERS, "reply-to": "/temp-queue/flood"}
        replies: list[str] = []
        desktop.client.on_reply("/temp-queue/flood", lambda frame: replies.append(frame.body))
        for _ in range(10):
            desktop.client.send(protocol.CONTROL, '{"type":"snapshot_request"}', headers=ask)
        handled(desktop)  # seen by the desktop: its replies, sent before, are in
        assert len(replies) == 3
        refusals = [r.getMessage() for r in caplog.records if "rate_limited" in r.getMessage()]
        assert len(refusals) == 7 and "desktop asks for more than" in refusals[0]

        gateway_replies: list[str] = []
        gateway.client.on_reply("/temp-queue/flood", lambda frame: gateway_replies.append(frame.body))
        for _ in range(10):  # the gateway user's bucket is its own, and generous
            gateway.client.send(protocol.CONTROL, '{"type":"snapshot_request"}', headers=ask)
        handled(gateway)
        assert len(gateway_replies) == 10


def test_a_browser_sessions_error_goes_to_gateways_only(served: Callable[..., contextlib.AbstractContextManager[Peers]]) -> None:
    with served() as peer:
        gateway = peer("gateway")
        mine = uuid.uuid4().hex
        own = protocol.private_destination(protocol.OUT, protocol.PRIVATE, mine, desktop="desktop")
        desktop = peer("desktop")
        desktop.client.subscribe(own, desktop._on_out)
        desktop.login("desk", mine)
        browser = handled(gateway)
        refused = gateway.write(browser, "rating_selector", 9)
        error = gateway.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == refused)
        seen = desktop.wait_for(lambda m: m["seq"] == error["seq"])
        assert seen == {"type": protocol.PLACEHOLDER, "epoch": error["epoch"], "seq": error["seq"]}
        ours = desktop.write(mine, "entry_field", "")
        own_error = desktop.wait_for(lambda m: m["type"] == "error" and m.get("msg_id") == ours)
        assert own_error["to"] == mine
        assert gateway.wait_for(lambda m: m["seq"] == own_error["seq"])["type"] == protocol.PLACEHOLDER
