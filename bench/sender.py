"""The open-loop HTTP sender shared by traitsweb's measurements (``POST /api/send``) and Nchan's (``POST /pub``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from bench.openloop import aschedule
from bench.wire import Endpoint, PostConnection

__all__ = ["post_open_loop"]


async def post_open_loop(endpoint: Endpoint, path: str, body_for: Callable[[int, float], bytes], ok: tuple[int, ...],
                         rate: float, seconds: float, start: float) -> dict[str, Any]:
    """Open loop: one POST per intended time on a free keep-alive connection (a new one when all are busy),
    never waiting for the previous reply. Returns what was sent, the achieved rate and the refused sends."""
    failures: list[str] = []
    refused: set[int] = set()
    free: list[PostConnection] = []
    posted: dict[PostConnection, int] = {}
    settled = asyncio.Event()

    def on_reply(conn: PostConnection, status: int, body: bytes, now: float) -> None:
        i = posted.pop(conn)
        if status not in ok:
            refused.add(i)
            failures.append(f"{status} {body[:200].decode(errors='replace')}")
        free.append(conn)
        if not posted:
            settled.set()

    async def connection() -> PostConnection:
        conn = PostConnection(lambda status, body, now: on_reply(conn, status, body, now))
        await endpoint.connect(lambda: conn)
        conn.closed.add_done_callback(lambda _: lost(conn))
        return conn

    def lost(conn: PostConnection) -> None:
        if conn in free:
            free.remove(conn)
        if conn in posted:
            i = posted.pop(conn)
            refused.add(i)
            failures.append("connection closed before the reply")
            if not posted:
                settled.set()

    free += [await connection() for _ in range(4)]
    async for i, intended in aschedule(rate, seconds, start=start):
        try:
            conn = free.pop() if free else await connection()
        except OSError as exc:
            refused.add(i)
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        settled.clear()
        posted[conn] = i
        conn.post(endpoint.request("POST", path, body=body_for(i, intended)))
    elapsed = time.monotonic() - start
    if posted:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled.wait(), 30)
    for conn in list(free) + list(posted):
        conn.close()
    total = int(rate * seconds)
    return {"sent": total, "achieved_rate": round(total / (elapsed + 1 / rate), 2), "send_failures": failures,
            "refused": refused}
