"""The chat page on a chat at its history cap: a bounded DOM, O(1) page work per new message, and older
messages than its bounded state holds fetched from /api/history when scrolled up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import wait
from typing import Any

import pytest

from runner.stack import Stack
from tests.conftest import BASE_URL
from tests.gateway.test_browser import browser, open_chat  # noqa: F401 - the fixture
from tests.stompclient import Peer
from traitsweb import protocol

pytestmark = [pytest.mark.stack, pytest.mark.browser]

CAP = 10_000
WINDOW = 300  # rows the page keeps (services/gateway/static/app.js)
#: a snapshot maximum that holds ~500 of the filler's messages: the page must fetch older ones
SNAPSHOT_MAX = 32 * 1024


@pytest.fixture(scope="module")
def full_chat(make_stack: Any) -> Iterator[tuple[Stack, Peer, str]]:
    """A stack whose chat holds CAP messages, and a peer logged in to write more."""
    if BASE_URL:
        pytest.skip("fills a chat of its own on a local stack (TRAITSWEB_BASE_URL is set)")
    with make_stack(gateways=1, proxy=True, env={"*": {"TRAITSWEB_SNAPSHOT_MAX_BYTES": str(SNAPSHOT_MAX)}}) as stack, \
             Peer(stack.broker_url("gateway")) as peer:
        session = peer.login("Filler")
        peer.wait_for(lambda m: m.get("trait") == "participants" and session in m.get("set", {}))
        futures = []
        for i in range(CAP + 5):  # past the cap: the oldest five are dropped
            body = protocol.encode({"id": session, "trait": "entry_field", "value": f"message {i}",
                                    "msg_id": uuid.uuid4().hex})
            futures.append(peer.client.send_async(protocol.INPUT, body, headers=protocol.SEND_HEADERS))
        wait(futures, timeout=120)
        assert all(f.done() and f.exception() is None for f in futures)
        last = f"message {CAP + 4}"
        peer.wait_for(lambda m: m.get("trait") == "messages" and any(a.get("text") == last for a in m.get("added", [])),
                      timeout=120)
        yield stack, peer, session


def test_a_page_at_the_cap_keeps_a_bounded_dom_and_updates_incrementally(browser: Any, full_chat: Any) -> None:  # noqa: F811
    stack, peer, session = full_chat
    page = open_chat(browser, stack.proxy_url, "Reader")
    page.get_by_text(f"message {CAP + 4}", exact=True).wait_for()
    assert page.evaluate("() => document.querySelectorAll('#messages li').length") == WINDOW
    assert page.evaluate("() => document.querySelector('#messages li:first-child .text').textContent") == \
        f"message {CAP + 5 - WINDOW}"
    page.evaluate("""() => {
        window.__mutations = { added: 0, removed: 0 };
        new MutationObserver((records) => {
            for (const r of records) { window.__mutations.added += r.addedNodes.length;
                                       window.__mutations.removed += r.removedNodes.length; }
        }).observe(document.querySelector('#messages'), { childList: true });
    }""")
    peer.write(session, "entry_field", "one more at the cap")
    page.get_by_text("one more at the cap", exact=True).wait_for()
    page.wait_for_function("() => window.__mutations.removed >= 1")  # the window's oldest row goes
    assert page.evaluate("() => window.__mutations") == {"added": 1, "removed": 1}
    assert page.evaluate("() => document.querySelectorAll('#messages li').length") == WINDOW
    # scrolled to the top, the page shows older messages a window at a time: first those its state holds
    # (the newest part only: the state is bounded), then ones it fetches from the replica's /api/history
    held = page.evaluate("() => document.querySelectorAll('#messages li').length")
    shown = WINDOW
    while shown < 1500:
        page.evaluate("() => { const l = document.querySelector('#messages'); l.scrollTop = 0; "
                      "l.dispatchEvent(new Event('scroll')); }")
        page.wait_for_function(f"() => document.querySelectorAll('#messages li').length > {shown}")
        shown = page.evaluate("() => document.querySelectorAll('#messages li').length")
    assert held == WINDOW and any("/api/history?trait=messages&before=" in url for url in page.requests)
    texts = page.evaluate("() => [...document.querySelectorAll('#messages li .text')].map((e) => e.textContent)")
    assert texts == [f"message {i}" for i in range(CAP + 5 - shown + 1, CAP + 5)] + ["one more at the cap"]


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_pages_on_every_transport_chat(browser: Any, base_url: str, transport: str) -> None:  # noqa: F811
    from tests.gateway.test_browser import say

    reader = open_chat(browser, base_url, f"On {transport}", path=f"/?transport={transport}")
    writer = open_chat(browser, base_url, "On poll")
    say(writer, f"hello {transport} reader")
    reader.get_by_text(f"hello {transport} reader", exact=True).wait_for()
    say(reader, f"hello from {transport}")
    writer.get_by_text(f"hello from {transport}", exact=True).wait_for()
    stream = {"sse": "/api/events?", "ws": "/api/ws?"}[transport]
    assert any(stream in url for url in reader.requests)
    assert not any("/api/poll?" in url for url in reader.requests)
