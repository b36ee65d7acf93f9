"""``python -m bench.hotpath``: CPU per request of the gateway's hot routes, in process, on ``memory://``.

Drives ``create_app``'s ASGI app directly (a fake ``receive``/``send``, no HTTP parsing, no sockets)
against the model service on the in-memory broker, and reports the event loop thread's CPU time per
request (``time.thread_time``: the model's threads and the broker's are not counted; the minimum of
``--repeat`` rounds, since the machine is shared) for

- an immediate poll (a client one message behind: the hub's cached reply),
- a held-then-woken poll (``--clients`` polls held at the head, one send wakes them all; per poll),
- a send (``POST /api/send``, up to the broker's receipt),

each through the whole app and, for the poll, also through the router alone (without the middleware
stack) and with the endpoint called directly (the differences are what each layer adds). ``--profile FILE`` writes a cProfile of the immediate-poll loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.replica import Replica
from services.gateway.routes import stream
from tests.inproc import UNLIMITED, model_service

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
LIMITS = {**UNLIMITED, "send_rate": 1e6, "send_burst": 1_000_000, "login_rate": 1e6, "login_burst": 1_000_000,
          "sessions_per_address": 1_000_000}


class Driver:
    """Requests to an ASGI app as a server would make them: a fresh scope each, the lifespan's state copied in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.token = ""

    async def start(self) -> Callable[[], Awaitable[None]]:
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        started = asyncio.get_running_loop().create_future()
        stopped = asyncio.get_running_loop().create_future()
        await events.put({"type": "lifespan.startup"})

        async def send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup"):
                started.set_result(message)
            elif message["type"].startswith("lifespan.shutdown"):
                stopped.set_result(message)

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        task = asyncio.create_task(self.app(scope, events.get, send))
        reply = await started
        assert reply["type"] == "lifespan.startup.complete", reply

        async def stop() -> None:
            await events.put({"type": "lifespan.shutdown"})
            await stopped
            await task

        return stop

    def scope(self, method: str, path: str, query: bytes = b"", body: bool = False,
              token: str | None = None) -> dict[str, Any]:
        headers = [(b"host", b"testserver"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
        token = token or self.token
        if token:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        if body:
            headers.append((b"content-type", b"application/json"))
        return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
                "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                "query_string": query, "headers": headers, "server": ("testserver", 80),
                "client": ("127.0.0.1", 50000), "state": self.state.copy()}

    async def request(self, method: str, path: str, query: bytes = b"", body: bytes | None = None,
                      app: ASGIApp | None = None, token: str | None = None) -> tuple[int, bytes]:
        scope = self.scope(method, path, query, body is not None, token)
        if body is not None:
            scope["headers"].append((b"content-length", b"%d" % len(body)))
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body or b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client stays connected
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await (app or self.app)(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def login(driver: Driver, name: str) -> str:
    status, body = await driver.request("POST", "/api/login", body=json.dumps({"name": name}).encode())
    assert status == 200, body
    token: str = json.loads(body)["session"]
    return token


async def _position(driver: Driver) -> tuple[str, int]:
    status, body = await driver.request("GET", "/api/poll", b"since=0&epoch=&timeout=0")
    assert status == 200, body
    reply = json.loads(body)
    return reply["epoch"], reply["seq"]


async def _send(driver: Driver, n: int) -> None:
    body = json.dumps({"trait": "rating_selector", "value": 1 + n % 5}).encode()
    status, reply = await driver.request("POST", "/api/send", body=body)
    assert status == 202, reply


def _cpu_per(rounds: list[float], count: int) -> float:
    return min(rounds) / count * 1e6


async def immediate_poll(driver: Driver, count: int, repeat: int, app: ASGIApp | None = None,
                         profile: cProfile.Profile | None = None) -> float:
    """µs per poll answered at once (one message behind: the hub's shared reply)."""
    epoch, seq = await _position(driver)
    while seq < 2:
        await _send(driver, seq)
        epoch, seq = await _position(driver)
    query = b"since=%d&epoch=%s" % (seq - 1, epoch.encode())
    status, body = await driver.request("GET", "/api/poll", query, app=app)
    assert status == 200 and json.loads(body)["messages"], body
    rounds = []
    for _ in range(repeat):
        if profile is not None:
            profile.enable()
        started = time.thread_time()
        for _ in range(count):
            await driver.request("GET", "/api/poll", query, app=app)
        rounds.append(time.thread_time() - started)
        if profile is not None:
            profile.disable()
    return _cpu_per(rounds, count)


async def woken_poll(driver: Driver, clients: int, repeat: int) -> float:
    """µs per poll held at the head and woken by one send (the send's own cost shared among them): one
    session per poll, as a browser holds one at a time."""
    hub = Replica.of({"state": driver.state}).hub
    tokens = [await login(driver, f"held-{n}") for n in range(clients)]
    rounds = []
    for n in range(repeat):
        epoch, seq = await _position(driver)
        query = b"since=%d&epoch=%s&timeout=20" % (seq, epoch.encode())
        started = time.thread_time()
        polls = [asyncio.create_task(driver.request("GET", "/api/poll", query, token=token)) for token in tokens]
        while hub.waiting < clients:
            assert not any(poll.done() for poll in polls), [poll.result() for poll in polls if poll.done()][0]
            await asyncio.sleep(0)
        await _send(driver, n)
        replies = await asyncio.gather(*polls)
        rounds.append(time.thread_time() - started)
        assert all(status == 200 and json.loads(body)["messages"] for status, body in replies), replies[0]
    return _cpu_per(rounds, clients)


async def send(driver: Driver, count: int, repeat: int) -> float:
    """µs per ``POST /api/send`` up to the broker's receipt (on the loop's thread: the broker's are not counted)."""
    rounds = []
    for _ in range(repeat):
        started = time.thread_time()
        for n in range(count):
            await _send(driver, n)
        rounds.append(time.thread_time() - started)
    return _cpu_per(rounds, count)


async def measure(args: argparse.Namespace, broker_url: str, secret: str) -> dict[str, float]:
    settings = GatewaySettings(broker_url=broker_url, session_secret=secret, replica="bench",  # type: ignore[arg-type]
                               **LIMITS)
    app = create_app(settings)
    driver = Driver(app)
    stop = await driver.start()
    try:
        hub = Replica.of({"state": driver.state}).hub
        deadline = time.monotonic() + 10
        while not hub.ready:
            assert time.monotonic() < deadline, "the gateway never loaded the model's state"
            await asyncio.sleep(0.01)
        driver.token = await login(driver, "bench")
        profile = cProfile.Profile() if args.profile else None
        results = {
            "immediate poll, app": await immediate_poll(driver, args.count, args.repeat, profile=profile),
            "immediate poll, router only": await immediate_poll(driver, args.count, args.repeat, app=app.router),
            "immediate poll, endpoint only": await immediate_poll(driver, args.count, args.repeat, app=stream.poll),
            "held-then-woken poll, app": await woken_poll(driver, args.clients, args.repeat),
            "send, app": await send(driver, args.sends, args.repeat),
        }
        if profile is not None:
            profile.dump_stats(args.profile)
        return results
    finally:
        await stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="immediate polls per round")
    parser.add_argument("--clients", type=int, default=200, help="polls held and woken per round")
    parser.add_argument("--sends", type=int, default=500, help="sends per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the minimum is reported)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the immediate-poll rounds here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    name = f"hotpath-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="traitsweb-hotpath-") as data_dir:
        with model_service(f"memory://model@{name}", Path(data_dir), idle_timeout=3600):
            results = asyncio.run(measure(args, f"memory://gateway@{name}", secrets.token_hex(16)))
    if args.json:
        print(json.dumps(results))
    else:
        print(f"CPU per request on the event loop's thread (min of {args.repeat} rounds):")
        for what, us in results.items():
            print(f"  {what:32} {us:7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
