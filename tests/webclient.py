"""A browser-like HTTP client of the gateway for tests: log in, send, long-poll, keep a view of the state.

It keeps its own copy of the state from what polls return (``trait_change``
messages applied in ``seq`` order, ``reset`` replies replacing everything), so
a test can compare every client's view with the model's state. Requests can
rotate over several base URLs (replicas) to prove there are no sticky sessions.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

import httpx

from traitsweb.state import apply_change, localize


class WebClient:
    def __init__(self, base_urls: list[str] | str, *, origin: str | None = None, timeout: float = 40.0,
                 http: httpx.Client | None = None) -> None:
        """``http``: a client to share (an in-process app's test client), not closed by this one."""
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self._urls = itertools.cycle(urls)
        self.origin = origin or urls[0]
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout, headers={"Origin": self.origin})
        self.token: str | None = None
        self.id: str | None = None
        self.epoch: str | None = None
        self.seq = 0
        self.state: dict[str, Any] = {}
        self.offsets: dict[str, int] = {}
        self.errors: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.resets = 0
        self._lock = threading.Lock()

    def __enter__(self) -> WebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def url(self, path: str) -> str:
        return next(self._urls) + path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- API ------------------------------------------------------------------------
    def login(self, name: str) -> dict[str, Any]:
        response = self.http.post(self.url("/api/login"), json={"name": name})
        response.raise_for_status()
        body = response.json()
        self.token, self.id = body["session"], body["id"]
        state = self.http.get(self.url("/api/state"), headers=self.auth)
        state.raise_for_status()
        self._reset(state.json())
        return body

    def send(self, trait: str, value: Any, *, msg_id: str | None = None) -> httpx.Response:
        body = {"trait": trait, "value": value, **({"msg_id": msg_id} if msg_id else {})}
        return self.http.post(self.url("/api/send"), json=body, headers=self.auth)

    def send_reliably(self, trait: str, value: Any, *, attempts: int = 40) -> httpx.Response:
        """Retry with one msg_id through replica crashes and broker restarts (as the page does)."""
        msg_id = uuid.uuid4().hex[:24]
        for attempt in range(attempts):
            try:
                response = self.send(trait, value, msg_id=msg_id)
                if response.status_code not in (502, 503, 504):
                    return response
            except httpx.TransportError:
                pass
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError(f"send of {value!r} never accepted")

    def post(self, text: str) -> httpx.Response:
        return self.send("entry_field", text)

    def poll(self, timeout: float = 25.0) -> list[dict[str, Any]]:
        """One long-poll; applies what it returns; returns the new messages."""
        params = {"since": self.seq, "epoch": self.epoch or "", "timeout": timeout}
        response = self.http.get(self.url("/api/poll"), params=params, headers=self.auth)
        response.raise_for_status()
        return self.apply(response.json())

    def logout(self) -> httpx.Response:
        return self.http.post(self.url("/api/logout"), headers=self.auth)

    # -- the local view -------------------------------------------------------------
    def apply(self, reply: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if reply.get("reset"):
                self._reset(reply)
                return []
            messages = reply.get("messages", [])
            for message in messages:
                if message["type"] == "trait_change":
                    apply_change(self.state, localize(message, self.offsets))
                elif message["type"] == "error":
                    self.errors.append(message)
            self.received.extend(messages)
            self.epoch, self.seq = reply["epoch"], reply["seq"]
            return messages

    def _reset(self, reply: dict[str, Any]) -> None:
        self.resets += 1
        self.epoch, self.seq, self.state = reply["epoch"], reply["seq"], reply["state"]
        #: list traits held from an absolute index on (a truncated state): that index
        self.offsets = {name: count for name, count in reply.get("truncated", {}).items() if count}

    def texts(self) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.state.get("messages", [])]
