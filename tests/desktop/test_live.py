"""The desktop against the local stack: real RabbitMQ, the real model, the headless desktop service.

Chat and ratings come from a STOMP peer acting like a gateway; the expected
values come from the model's own snapshot, so the tests hold whatever other
tests of the package left in the shared chat.
"""

from __future__ import annotations

from PIL import Image
import pytest

from runner.stack import Stack
from services.desktop.plotdata import ChatPlotData
from tests.stompclient import Peer

from .live import assert_bars_show, bar_heights, desktop_link, histogram, pump_until, wait_for_png

pytestmark = pytest.mark.stack


def _joined(peer: Peer, name: str) -> str:
    session = peer.login(name)
    peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
    return session


def test_plot_data_reach_the_values_of_the_model(desktop_stack: Stack) -> None:
    with Peer(desktop_stack.broker_url("gateway")) as peer, desktop_link(desktop_stack) as link:
        data = ChatPlotData(model=link.model)

        def pump(timeout: float) -> None:
            link.drain(timeout)
            data.refresh()

        pump_until(pump, lambda: link.model.ready, what="first snapshot")
        assert link.snapshot_requests == 1
        sessions = {name: _joined(peer, name) for name in ("ann", "ben", "cy")}
        for (name, session), rating in zip(sessions.items(), (1, 4, 4)):
            peer.write(session, "rating_selector", rating)
            peer.write(session, "entry_field", f"{name} rates {rating}")
        last = peer.wait_for(lambda m: m.get("trait") == "messages" and m["added"][0]["text"] == "cy rates 4")
        truth = peer.snapshot()
        assert truth["seq"] >= last["seq"]
        pump_until(pump, lambda: link.model.seq >= truth["seq"], what="the desktop at the model's seq")

        ratings, participants = truth["state"]["connection_ratings"], truth["state"]["participants"]
        assert data.rating_counts.tolist() == histogram(ratings)
        assert data.rating_counts[0] >= 1 and data.rating_counts[3] >= 2
        by_name = sorted(ratings, key=lambda s: (participants[s], s))
        assert data.participant_names == [participants[s] for s in by_name]
        assert data.participant_ratings.tolist() == [ratings[s] for s in by_name]
        assert data.messages_per_bucket[-2:].sum() >= 3  # sent within the last 10..20 s
        assert data.average_per_bucket[-1] == pytest.approx(truth["state"]["average_rating"])
        assert data.plot_data.get_data("rating_counts").tolist() == histogram(ratings)
        assert link.snapshot_requests == 1  # no gap on a healthy stream


def test_desktop_user_chats_and_rates_through_the_input_channel(desktop_stack: Stack) -> None:
    with Peer(desktop_stack.broker_url("gateway")) as peer:
        with desktop_link(desktop_stack, participant=True, name="desk-live") as link:
            pump_until(link.drain, lambda: link.joined, what="the desktop's login seen in participants")
            session = link.session
            assert len(session) == 32 and link.model.participants[session] == "desk-live"
            assert link.post("hello from the desktop") and link.rate(2)
            peer.wait_for(lambda m: m.get("trait") == "messages"
                          and m["added"][0] == {**m["added"][0], "user": "desk-live", "text": "hello from the desktop"})
            peer.wait_for(lambda m: m.get("trait") == "connection_ratings" and m["set"].get(session) == 2)
            pump_until(link.drain, lambda: link.model.connection_ratings.get(session) == 2)
            # a value the model refuses is refused before it is sent, with the model's schema
            assert not link.rate(7) and "at most 5" in link.last_error
        # leaving the window logs the desktop user out
        peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("removed", []))


def test_headless_service_pngs_show_the_ratings(desktop_stack: Stack) -> None:
    folder = desktop_stack.volumes / "desktop-snapshots"
    with Peer(desktop_stack.broker_url("gateway")) as peer:
        raters = [_joined(peer, f"png-{i}") for i in range(3)]
        shown = []
        for rating in (5, 1):
            for session in raters:
                peer.write(session, "rating_selector", rating)
            peer.wait_for(lambda m: m.get("trait") == "connection_ratings"
                          and m["set"].get(raters[-1]) == rating)
            truth = peer.snapshot()
            png = wait_for_png(folder, truth["seq"])
            with Image.open(png) as image:
                assert image.format == "PNG" and image.size == (1000, 700)
            heights = bar_heights(png)
            assert_bars_show(heights, histogram(truth["state"]["connection_ratings"]))
            shown.append(heights)
        # three participants moved from the 5 bar to the 1 bar
        assert shown[1][0] > shown[0][0] and shown[1][4] < shown[0][4]
        with Image.open(folder / "latest.png") as latest:
            assert latest.format == "PNG" and latest.size == (1000, 700)


def test_a_flood_is_applied_in_batches_without_resnapshots(desktop_stack: Stack) -> None:
    with Peer(desktop_stack.broker_url("gateway")) as peer, desktop_link(desktop_stack) as link:
        data = ChatPlotData(model=link.model)
        batches: list[int] = []

        def pump(timeout: float) -> None:
            handled = link.drain(timeout)
            if handled:
                batches.append(handled)
                data.refresh()

        pump_until(pump, lambda: link.synced, what="first snapshot")
        talker = _joined(peer, "flood")
        for i in range(500):
            peer.write(talker, "entry_field", f"flood {i}")
        truth = peer.snapshot()
        pump_until(pump, lambda: link.model.seq >= truth["seq"], what="the desktop through the flood")
        assert link.snapshot_requests == 1
        assert link.model.messages == truth["state"]["messages"]
        assert [m["text"] for m in link.model.messages[-500:]] == [f"flood {i}" for i in range(500)]
        assert max(batches) > 1  # several messages per drain: one refresh for many messages
