"""``api``: the gateway's HTTP contract against the in-process app, and (marked ``stack``) a real stack.

The ``inproc`` variant runs the model and one replica in this process on the in-memory broker
(:mod:`tests.inproc`); the ``stack`` variant is the local stack behind nginx, or the stack at
``TRAITSWEB_BASE_URL`` (compose). One test body serves both.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx
import pytest

from tests.webclient import WebClient


class Refused(Exception):
    """The server closed or refused the WebSocket."""


@dataclass
class Api:
    url: str
    http: Any  # an httpx(2) Client without a cookie jar: a browser that sends only what a test gives it
    #: the session secret, when the test can know it (not for a stack at TRAITSWEB_BASE_URL)
    secret: bytes | None
    kind: str
    #: a broker URL with the gateway's rights, when the test can reach the broker
    broker_url: str | None = None

    def new_client(self) -> WebClient:
        client = WebClient(self.url, http=self.http if self.kind == "inproc" else None)
        return client

    @contextlib.contextmanager
    def websocket(self, query: str, headers: dict[str, str]) -> Iterator[Callable[[], dict[str, Any]]]:
        """``with api.websocket("since=0", headers) as recv:`` ``recv()`` is the next frame as JSON; Refused."""
        if self.kind == "inproc":
            from starlette.websockets import WebSocketDisconnect

            try:
                with self.http.websocket_connect(f"/api/ws?{query}", headers=headers) as ws:
                    yield lambda: json.loads(ws.receive_text())
            except WebSocketDisconnect as exc:
                raise Refused(exc.code) from None
            return
        from websockets.exceptions import ConnectionClosedError, InvalidStatus
        from websockets.sync.client import connect

        try:
            with connect(self.url.replace("http", "ws", 1) + f"/api/ws?{query}", additional_headers=headers,
                         open_timeout=10) as socket:
                yield lambda: json.loads(socket.recv(timeout=30))
        except (InvalidStatus, ConnectionClosedError) as exc:
            raise Refused(str(exc)) from None


@pytest.fixture(scope="session")
def inproc_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from tests.inproc import in_process

    with in_process(tmp_path_factory.mktemp("inproc")) as app:
        yield Api(app.url, app.http, app.secret, "inproc", app.broker_url)


@pytest.fixture(scope="session", params=["inproc", pytest.param("stack", marks=pytest.mark.stack)])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    if request.param == "inproc":
        yield request.getfixturevalue("inproc_api")
        return
    url = request.getfixturevalue("base_url")
    web_stack = request.getfixturevalue("web_stack")
    secret = web_stack.secrets["TRAITSWEB_SESSION_SECRET"].encode() if web_stack is not None else None
    with httpx.Client(timeout=40) as http:
        http.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        yield Api(url, http, secret, "stack", web_stack.broker_url("gateway") if web_stack is not None else None)


@pytest.fixture
def clients(api: Api) -> Iterator[Callable[[], WebClient]]:
    """``clients()``: a new WebClient of ``api``, closed when the test ends."""
    made: list[WebClient] = []

    def factory() -> WebClient:
        client = api.new_client()
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
