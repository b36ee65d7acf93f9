"""The desktop through a broker outage: the status says so, then it reconnects and re-snapshots."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from runner.stack import Stack
from services.desktop.window import DesktopWindow
from tests.stompclient import Peer

from .live import desktop_link, pump_until

pytestmark = pytest.mark.stack


def test_broker_restart_shows_in_the_status_then_resnapshots(
    make_stack: Callable[..., AbstractContextManager[Stack]],
) -> None:
    with make_stack(gateways=0, proxy=False) as stack, \
            desktop_link(stack, participant=True, name="desk-rc") as link:
        window = DesktopWindow(link, link.settings)  # its state and status, without showing it
        pump_until(window.pump, lambda: window.joined, what="the desktop joined")
        requests = link.snapshot_requests

        stack.kill("rabbitmq")
        pump_until(window.pump, lambda: not link.connected, what="the outage noticed")
        assert window.status.startswith("broker: disconnected")

        pump_until(window.pump, lambda: link.connected and link.snapshot_requests > requests and link.synced
                   and link.joined, timeout=120, what="reconnected, re-snapshotted and joined again")
        assert window.status.startswith("broker: connected · you are desk-rc")

        # the stream flows again into the new subscription
        with Peer(stack.broker_url("gateway")) as peer:
            web = peer.login("after-outage")
            peer.wait_for(lambda m: m.get("trait") == "participants" and web in m.get("set", {}))
            peer.write(web, "rating_selector", 3)
            pump_until(window.pump, lambda: link.model.connection_ratings.get(web) == 3,
                       what="a rating made after the outage")
        assert window.data.rating_counts[2] >= 1
