"""Every answer nginx makes itself is the gateway's JSON error format, and one address cannot flood it.

One stack with one replica and small per-address limits (the template's variables, set through the
proxy service's environment as compose does).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from runner.stack import Stack
from tests.webclient import WebClient

pytestmark = pytest.mark.stack

CONNECTIONS = 4
LIMITS = {"PROXY_CONN_PER_ADDRESS": str(CONNECTIONS), "PROXY_REQ_RATE": "5", "PROXY_REQ_BURST": "2",
          "PROXY_REQ_DELAY": "1"}
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy")


@pytest.fixture(scope="module")
def stack(make_stack: Callable[..., contextlib.AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with make_stack(gateways=1, proxy=True, env={"proxy": LIMITS}) as s:
        yield s


def expect_json_error(response: httpx.Response, status: int | tuple[int, ...], code: str) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["error"] == code and body["detail"], body
    for header in SECURITY_HEADERS:
        assert header in response.headers, header
    return body


def test_a_body_over_the_proxy_limit_is_a_json_413(stack: Stack) -> None:
    with WebClient(stack.proxy_url) as client:
        client.login("big-body")
        response = client.http.post(stack.proxy_url + "/api/send", content=b'"' + b"x" * 200 * 1024 + b'"',
                                    headers={**client.auth, "Content-Type": "application/json"})
    expect_json_error(response, 413, "too_large")


def test_a_connection_flood_from_one_address_is_refused_with_json(stack: Stack) -> None:
    """More held long-polls than the per-address limit: the extra ones get 429 at once, the held ones live."""
    with WebClient(stack.proxy_url) as client:
        client.login("flood")
        params = {"since": client.seq, "epoch": client.epoch, "timeout": 20}
        flood = CONNECTIONS * 3
        with httpx.Client(timeout=40, limits=httpx.Limits(max_connections=flood)) as http, \
                concurrent.futures.ThreadPoolExecutor(flood) as pool:
            polls = [pool.submit(http.get, stack.proxy_url + "/api/poll", params=params, headers=client.auth)
                     for _ in range(flood)]
            refused = []
            for future in concurrent.futures.as_completed(polls):
                response = future.result()
                if response.status_code != 429:
                    break  # the held polls only return once something changes
                refused.append(response)
                if len(refused) == flood - CONNECTIONS:
                    break
            assert len(refused) == flood - CONNECTIONS
            for response in refused:
                expect_json_error(response, 429, "rate_limited")
                assert int(response.headers["retry-after"]) >= 1
            # the polls within the limit are held, and answered when the state changes (a send straight to
            # the replica: through the proxy this address has no connection left)
            released = client.http.post(stack.gateway_urls[0] + "/api/send", json={"trait": "entry_field", "value": "go"},
                                        headers={**client.auth, "Origin": stack.proxy_url})
            assert released.status_code == 202, released.text
            answered = [f.result() for f in polls if f.result().status_code != 429]
            assert len(answered) == CONNECTIONS and all(r.status_code == 200 for r in answered)


def test_a_request_flood_from_one_address_is_refused_with_json(stack: Stack) -> None:
    flood = 40
    # no more at once than the connection limit: every refusal here is the request rate's
    with httpx.Client(timeout=40, limits=httpx.Limits(max_connections=CONNECTIONS)) as http, \
            concurrent.futures.ThreadPoolExecutor(CONNECTIONS) as pool:
        responses = list(pool.map(lambda _: http.get(stack.proxy_url + "/healthz"), range(flood)))
    refused = [r for r in responses if r.status_code == 429]
    assert refused and all(r.status_code in (200, 429) for r in responses)
    for response in refused:
        expect_json_error(response, 429, "rate_limited")


def test_no_replica_up_is_a_json_unavailable_with_retry_after(stack: Stack) -> None:
    """Last in this module: it stops the only gateway."""
    stack.stop("gateway-1")
    for path in ("/api/state", "/api/poll?since=0", "/"):
        response = httpx.get(stack.proxy_url + path, timeout=30)
        expect_json_error(response, (502, 503, 504), "unavailable")
        assert int(response.headers["retry-after"]) >= 1
