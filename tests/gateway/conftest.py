"""The gateway's HTTP suite runs against the local stack, or against any running stack.

With ``TRAITSWEB_BASE_URL`` set (e.g. the compose stack under podman), the
tests talk to that URL; tests that need to kill or reconfigure processes of
the local stack are skipped there (``local_stack`` fixture).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import Stack

BASE_URL = os.environ.get("TRAITSWEB_BASE_URL", "").rstrip("/")


@pytest.fixture(scope="session")
def web_stack(make_stack: Any) -> Iterator[Stack | None]:
    """2 replicas behind nginx, short touch interval; None when testing a stack we did not start."""
    if BASE_URL:
        yield None
        return
    env = {"gateway": {"TRAITSWEB_TOUCH_INTERVAL": "1"}}
    with make_stack(gateways=2, proxy=True, env=env) as stack:
        yield stack


@pytest.fixture(scope="session")
def base_url(web_stack: Stack | None) -> str:
    return BASE_URL or web_stack.proxy_url  # type: ignore[union-attr]


@pytest.fixture
def local_stack(web_stack: Stack | None) -> Stack:
    if web_stack is None:
        pytest.skip("needs to control the processes of the local stack (TRAITSWEB_BASE_URL is set)")
    return web_stack


@pytest.fixture
def new_client(base_url: str) -> Iterator[Any]:
    """``new_client(urls=None, origin=None)``: a WebClient closed when the test ends."""
    from tests.webclient import WebClient

    made: list[WebClient] = []

    def factory(urls: Any = None, *, origin: str | None = None) -> WebClient:
        client = WebClient(urls or base_url, origin=origin or (urls if isinstance(urls, str) else None))
        made.append(client)
        return client

    yield factory
    for client in made:
        client.http.close()
