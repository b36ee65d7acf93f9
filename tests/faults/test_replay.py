"""Replay from the journal: a replica that starts late, and a client behind a replica's ring buffer, get
the messages they missed (read from the model's journal stream), not a reset."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack
from tests.wait import wait_until
from tests.webclient import WebClient

pytestmark = pytest.mark.stack

#: the smallest ring buffer a replica may have: the test sends more than it holds
BUFFER = 100


@pytest.fixture(scope="module")
def stack(make_stack: Any) -> Iterator[Stack]:
    env = {"gateway": {"TRAITSWEB_BUFFER_SIZE": str(BUFFER), "TRAITSWEB_SEND_RATE": "1000",
                       "TRAITSWEB_SEND_BURST": "1000"}}
    with make_stack(gateways=2, proxy=False, journal="stream", env=env) as stack:
        yield stack


def moved_to(client: WebClient, url: str) -> WebClient:
    """The same browser, its next polls going to the replica at ``url``."""
    other = WebClient(url)
    other.token, other.id = client.token, client.id
    other.epoch, other.seq, other.state, other.offsets = client.epoch, client.seq, client.state, client.offsets
    return other


def catch_up(client: WebClient, texts: list[str]) -> None:
    wait_until(lambda: client.poll(timeout=2) is not None and texts[-1] in client.texts(), timeout=60,
               what=lambda: f"{len(client.texts())} texts, last {client.texts()[-1:]}")


def send(writer: WebClient, run: str, count: int) -> list[str]:
    texts = [f"{run} {n}" for n in range(count)]
    for text in texts:
        assert writer.send_reliably("entry_field", text).status_code == 202
    return texts


def test_a_replica_started_late_replays_what_a_client_missed(stack: Stack) -> None:
    first, second = stack.gateway_urls
    run = uuid.uuid4().hex[:6]
    with WebClient(first) as writer, WebClient(first) as reader:
        writer.login(f"writer-{run}")
        reader.login(f"reader-{run}")
        stack.stop("gateway-2")
        texts = send(writer, run, 30)
        stack.start_program("gateway-2")
        stack.wait_ready(90, ["gateway-2"])
        with moved_to(reader, second) as moved:
            catch_up(moved, texts)
            assert moved.resets == 0, "the late replica reset the client instead of replaying the journal"
            ours = [t for t in moved.texts() if t.startswith(run)]
            assert ours == texts


def test_a_client_behind_the_ring_buffer_is_replayed_not_reset(stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]
    url = stack.gateway_urls[0]
    with WebClient(url) as writer, WebClient(url) as behind:
        writer.login(f"writer-{run}")
        behind.login(f"behind-{run}")
        texts = send(writer, run, BUFFER + 50)  # the replica's buffer no longer reaches the client's seq
        catch_up(behind, texts)
        assert behind.resets == 1, "only the login's state: the missed messages came from the journal"
        assert [t for t in behind.texts() if t.startswith(run)] == texts
