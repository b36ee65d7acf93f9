"""``python -m bench.memprofile``: where a held long-poll's or an idle WebSocket's memory goes, by module.

One gateway replica runs in this process (``create_app`` under uvicorn with the protocol classes
``python -m services.gateway`` uses, on a thread of its own) against the model service on the in-memory
broker; a client process opens ``--clients`` idle connections to it (long-polls that are held, or
WebSockets that receive nothing), 7 per session. ``tracemalloc`` snapshots before and after give the
bytes each connection holds, grouped by the package of the allocating frame nearest the top of the stack
that belongs to a library or to the gateway (so a dict that uvicorn makes through asyncio counts as
uvicorn's); the process's RSS growth per connection is beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

PER_SESSION = 7
#: the allocating frame's package, by path fragment, nearest first
PACKAGES = ("services/gateway", "uvicorn", "starlette", "fastapi", "websockets", "httptools", "h11", "pydantic",
            "traitsweb", "asyncio", "uvloop")


def _package(traceback: tracemalloc.Traceback) -> str:
    for frame in reversed(traceback):  # most recent call first
        for package in PACKAGES:
            if f"/{package}/" in frame.filename:
                return package
    return "other"


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _client(base: str, origin: str, clients: int, transport: str) -> None:
    """Open the connections and hold them until stdin closes (a child process: its memory is not traced)."""
    from bench.clients import login_many
    from bench.wire import Endpoint, PollConnection, WsConnection

    logins = await login_many([base], -(-clients // PER_SESSION), origin)
    # every log-in moves the state on: a poll from an earlier session's position would be answered at once, not held
    latest = str(max(login.seq for login in logins))
    conns = []
    for k in range(clients):
        login = logins[k // PER_SESSION]
        endpoint = Endpoint(base, login.token, origin, local_address=f"127.0.0.{2 + k % 4}")
        since = {"since": latest, "epoch": login.epoch}
        if transport == "ws":
            conn: Any = WsConnection(endpoint, "/api/ws", since, lambda payload, now: None, lambda status: None)
        else:
            request = endpoint.request("GET", "/api/poll", {**since, "timeout": "25"})  # the gateway's longest hold
            conn = PollConnection(lambda request=request: request, lambda status, body, now: None)
        await endpoint.connect(lambda conn=conn: conn)
        conns.append(conn)
        if k % 200 == 199:
            await asyncio.sleep(0.05)
    print("open", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _serve_granian(app: Any, port: int) -> Any:
    """The same app under granian's embeddable server (Rust HTTP, ASGI), for comparison."""
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_level="warning",
                    backlog=4096)
    threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True).start()
    return server


def _serve(app: Any, port: int, started: threading.Event) -> Any:
    import uvicorn

    from services.gateway import slowreaders

    http, ws = slowreaders.bounded(64 * 1024 * 1024, 30.0)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            http=http, ws=ws, lifespan="on")
    server = uvicorn.Server(config)

    def run() -> None:
        server.run()  # as uvicorn.run: its event loop (uvloop where installed), no signal handlers off the main thread

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    started.set()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memprofile", description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--transport", choices=("poll", "ws"), default="poll")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn",
                        help="granian (if installed) for comparison: its Rust allocations are in RSS only")
    parser.add_argument("--no-trace", action="store_true", help="RSS only, without tracemalloc's own overhead")
    parser.add_argument("--client", nargs=2, metavar=("BASE", "ORIGIN"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        asyncio.run(_client(args.client[0], args.client[1], args.clients, args.transport))
        return 0

    import httpx

    from runner.stack import free_port
    from services.gateway.app import create_app
    from services.gateway.config import GatewaySettings
    from tests.inproc import UNLIMITED, model_service
    from tests.metrics import gauge

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = f"mem-{uuid.uuid4().hex[:8]}"
    limits = {**UNLIMITED, "login_rate": 1e6, "login_burst": 1_000_000, "sessions_per_address": 1_000_000}
    settings = GatewaySettings(broker_url=f"memory://gateway@{name}", session_secret=secrets.token_hex(16),  # type: ignore[arg-type]
                               replica="memprofile", http_port=port, allowed_origins=base, **limits)
    with tempfile.TemporaryDirectory() as data, model_service(f"memory://model@{name}", Path(data),
                                                               idle_timeout=3600):
        app = create_app(settings)
        server = _serve(app, port, threading.Event()) if args.server == "uvicorn" else _serve_granian(app, port)
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        gc.collect()
        if not args.no_trace:
            tracemalloc.start(12)
        before, rss0 = (None if args.no_trace else tracemalloc.take_snapshot()), _rss()
        client = subprocess.Popen([sys.executable, "-m", "bench.memprofile", "--clients", str(args.clients),
                                   "--transport", args.transport, "--client", base, base],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdout is not None and client.stdin is not None
        assert client.stdout.readline().strip() == "open", "the client process failed"
        time.sleep(3)  # the last connections' requests parsed and parked
        gc.collect()
        after, rss = (None if args.no_trace else tracemalloc.take_snapshot()), _rss()
        held = int(gauge(base, "traitsweb_gateway_polls_held"))
        grown: Counter[str] = Counter()
        lines: Counter[str] = Counter()
        for stat in after.compare_to(before, "traceback") if after and before else ():
            if stat.size_diff > 0:
                grown[_package(stat.traceback)] += stat.size_diff
                frame = stat.traceback[-1]
                lines[f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"] += stat.size_diff
        client.stdin.close()
        client.wait(30)
        if args.server == "uvicorn":
            server.should_exit = True
    n = args.clients
    report = {
        "server": args.server, "transport": args.transport, "clients": n,
        "held (the replica's polls_held gauge: long-polls and WebSockets waiting)": held,
        "traced KiB per connection": round(sum(grown.values()) / 1024 / n, 2),
        f"RSS KiB per connection (tracing {'off' if args.no_trace else 'on'})": round((rss - rss0) / 1024 / n, 2),
        "by package, KiB per connection": {k: round(v / 1024 / n, 2) for k, v in grown.most_common()},
        "top allocating lines, KiB per connection": {k: round(v / 1024 / n, 2) for k, v in lines.most_common(12)},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
