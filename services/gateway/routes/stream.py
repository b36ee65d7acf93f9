"""The hot paths, as plain ASGI endpoints: the send, the long-poll, Server-Sent Events and the WebSocket.

A poll is answered ~20 times a second per client while a chat is busy, and a
send is on every message's critical path, so these four skip FastAPI's
dependency and serialisation machinery (docs/benchmarks.md): each is a
Starlette ``Route`` in the app's one route table, validates its query or body
with the models of :mod:`..models`, and answers with the hub's shared bytes.
:func:`operations` describes them to /openapi.json from the same models.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from traitsweb import protocol

from .. import errors, streams
from ..body import read_json
from ..errors import ApiError
from ..hub import Batch, Waiter
from ..limits import RateLimiter
from ..models import Batch as BatchModel
from ..models import SendBody, SendReply, SocketQuery, StreamQuery, parse
from ..openapi import Operation
from ..replica import Replica
from ..tokens import Session

__all__ = ["PlainASGI", "events", "operations", "poll", "send", "websocket"]

MAX_HELD_PER_SESSION = 8
#: an SSE stream or WebSocket writes at least this often (an SSE comment; nothing on a WebSocket)
KEEPALIVE = 15.0
#: distinct query strings whose validated query is remembered, and the longest remembered: clients at one
#: position poll with the same query string, so most polls skip parsing and validation
QUERIES_CACHED = 4096
QUERY_CACHED_MAX = 256
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no")]


class PlainASGI:
    """Marks ``handler(scope, receive, send)`` as an ASGI endpoint for Starlette's ``Route`` (which takes a bare
    function for one that gets a ``Request``)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.handler = handler
        self.__doc__ = handler.__doc__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


@PlainASGI
async def send(scope: Scope, receive: Receive, send: Send) -> None:
    """Write one trait: ``202 {"msg_id"}`` once the broker has taken it."""
    replica = Replica.of(scope)
    headers = _headers(scope)
    session = await replica.auth.session(headers, scope["scheme"], state_changing=True)
    wait = replica.send_limit.take(session.id)
    if wait:
        raise ApiError(429, "rate_limited", "too many sends", headers={"Retry-After": RateLimiter.retry_after(wait)})
    body = parse(SendBody, await read_json(receive, headers, replica.settings.max_body), "body")
    schema = replica.link.ready_hub().state.writable.get(body.trait)
    if schema is None:
        raise ApiError(403, "not_writable", f"{body.trait[:64]!r} is not a trait clients may set")
    problem = protocol.check_value(schema, body.value)
    if problem is not None:
        raise ApiError(422, "invalid_value", f"{body.trait} {problem}")
    # a client-chosen msg_id makes retries safe: the model applies one msg_id once
    msg_id = f"{session.id}-{body.msg_id}" if body.msg_id is not None else uuid.uuid4().hex
    await replica.send(replica.settings.input_destination,
                       {"id": session.id, "trait": body.trait, "value": body.value, "msg_id": msg_id})
    replica.metrics.messages_in.inc()
    reply = b'{"msg_id":%s}' % json.dumps(msg_id).encode()
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-length", b"%d" % len(reply)), *_JSON]})
    await send({"type": "http.response.body", "body": reply})


@PlainASGI
async def poll(scope: Scope, receive: Receive, send: Send) -> None:
    """The Comet long-poll: everything after `since` this session may see, at once or as soon as it comes (an
    empty reply after `timeout`; a `reset` with the full state when `since`/`epoch` cannot be continued)."""
    replica = Replica.of(scope)
    query = _query(replica.poll_query, scope)
    session = await replica.auth.session(_headers(scope), scope["scheme"])
    replica.poll_limit.poll(replica.hub, session.id, query.since, query.epoch or None)
    batch = await _held(replica, session, query.since, query.epoch or None, query.timeout)  # type: ignore[attr-defined]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % len(batch.body)), *_JSON]})
    await send({"type": "http.response.body", "body": batch.body})


@PlainASGI
async def events(scope: Scope, receive: Receive, send: Send) -> None:
    """Server-Sent Events: one `batch` event per poll-like reply (`reset` for a full state); resumes from
    `Last-Event-ID` (= seq)."""
    replica = Replica.of(scope)
    query = _query(StreamQuery, scope)
    headers = _headers(scope)
    session = await replica.auth.session(headers, scope["scheme"])  # also refuses a foreign Origin
    replica.poll_limit.poll(replica.hub, session.id, query.since, query.epoch or None)
    last = headers.get("last-event-id", "")
    position = int(last) if last.isascii() and last.isdigit() and len(last) <= 18 else query.since
    epoch = query.epoch or None
    await send({"type": "http.response.start", "status": 200, "headers": _SSE})
    await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
    waiter = Waiter(replica.hub)
    watcher = asyncio.create_task(_until_disconnected(receive, waiter, "http.disconnect"))
    ending: list[str | ApiError] = []
    try:
        async with contextlib.aclosing(_batches(replica, session, position, epoch, waiter, ending)) as batches:
            async for batch in batches:
                if batch.reset:
                    chunk = b"id: %d\nevent: reset\ndata: %s\n\n" % (batch.seq, batch.body)
                elif batch.count:
                    chunk = b"id: %d\nevent: batch\ndata: %s\n\n" % (batch.seq, batch.body)
                else:
                    chunk = b": keep-alive\n\n"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        watcher.cancel()
    if not ending:
        return
    why = ending[0]
    if isinstance(why, ApiError):  # the response has started: end the stream with an event, not a 500
        end = b"event: error\ndata: %s\n\n" % errors.body(why.code, why.detail)
    else:
        end = streams.EXPIRED_EVENT if why == "expired" else b'event: logged_out\ndata: {"error":"logged_out"}\n\n'
    await send({"type": "http.response.body", "body": end, "more_body": False})


@PlainASGI
async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """The server sends poll-like replies as text frames; the client only listens."""
    if (await receive())["type"] != "websocket.connect":
        return
    replica = Replica.of(scope)
    try:
        query = _query(SocketQuery, scope)
        session = await replica.auth.session(_headers(scope), scope["scheme"], query_token=query.token)
        replica.poll_limit.poll(replica.hub, session.id, query.since, query.epoch or None)
    except ApiError as exc:
        code = {400: 4400, 403: 4403}.get(exc.status, 4401 if exc.status == 401 else 1013)
        await send({"type": "websocket.close", "code": code, "reason": exc.code})
        return
    await send({"type": "websocket.accept"})
    waiter = Waiter(replica.hub)
    watcher = asyncio.create_task(_until_disconnected(receive, waiter, "websocket.disconnect"))
    ending: list[str | ApiError] = []
    try:
        async with contextlib.aclosing(_batches(replica, session, query.since, query.epoch or None, waiter,
                                                ending)) as batches:
            async for batch in batches:
                if batch.reset or batch.count:
                    await send({"type": "websocket.send", "text": batch.text})
    except OSError:  # the client went away mid-send
        return
    finally:
        watcher.cancel()
    if not ending:
        return
    why = ending[0]
    if isinstance(why, ApiError):
        close = (1013, why.code)  # try again later (too many waits, state lost)
    else:
        close = streams.EXPIRED_CLOSE if why == "expired" else (4401, "logged_out")
    with contextlib.suppress(OSError):
        await send({"type": "websocket.close", "code": close[0], "reason": close[1]})


async def _batches(replica: Replica, session: Session, position: int, epoch: str | None, waiter: Waiter,
                   ending: list[str | ApiError]) -> AsyncGenerator[Batch, None]:
    """What a stream (SSE or WebSocket) sends: each batch after ``position``, the next once this one is sent,
    until the stream must end; ``ending`` then holds why: ``"expired"`` (a stream lives no longer than its
    token), ``"logged_out"``, or the :class:`ApiError` that ended a wait; nothing if the client went away."""
    while True:
        if streams.expired(session):
            ending.append("expired")
            return
        try:
            batch = await _held(replica, session, position, epoch, streams.hold(session, KEEPALIVE), waiter)
        except ApiError as exc:
            ending.append(exc)
            return
        if waiter.interrupted:
            return
        yield batch
        position, epoch = batch.seq, batch.epoch
        if session.id not in replica.hub.participants:
            ending.append("logged_out")
            return


async def _held(replica: Replica, session: Session, since: int, epoch: str | None, timeout: float,
                waiter: Waiter | None = None) -> Batch:
    """Wait in the hub for what ``session`` may see after ``since``, counted against its open waits."""
    holding = replica.link.holding
    count = holding.get(session.id, 0)
    if count >= MAX_HELD_PER_SESSION:
        raise ApiError(429, "too_many_waits", "too many open polls for this session", headers={"Retry-After": "1"})
    holding[session.id] = count + 1
    started = time.perf_counter()
    try:
        batch = await replica.hub.wait(since, epoch, session.id, timeout, waiter)
    except LookupError:
        raise ApiError(503, "not_ready", "the gateway has lost the model's state; retry") from None
    finally:
        count = holding[session.id] - 1
        if count:
            holding[session.id] = count
        else:
            del holding[session.id]
        replica.link.served(session.id)
    replica.metrics.observe_wait(time.perf_counter() - started, batch.count)
    return batch


Q = TypeVar("Q", bound=StreamQuery)


def _query(model: type[Q], scope: Scope) -> Q:
    """The query as ``model`` (``400 bad_request`` if it is not one); a short query string is validated
    once (the models are frozen, so one instance serves every request with that string)."""
    raw: bytes = scope["query_string"]
    if len(raw) > QUERY_CACHED_MAX:
        return _validated(model, raw)
    return _cached(model, raw)


def _validated(model: type[Q], raw: bytes) -> Q:
    """The query's parameters (a repeated one: the last), validated by ``model``."""
    return parse(model, dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)), "query")


_cached = functools.lru_cache(maxsize=QUERIES_CACHED)(_validated)  # refusals (exceptions) are not cached


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by name (ASGI servers lower-case them; a repeated one: the last). Cheaper than
    Starlette's ``Headers`` for the few lookups a hot path makes."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def _until_disconnected(receive: Receive, waiter: Waiter, disconnect: str) -> None:
    """Read (and drop) what the client sends until it disconnects, then end the stream's wait."""
    while (await receive())["type"] != disconnect:
        pass
    waiter.interrupt()


def operations(poll_query: type[StreamQuery]) -> list[Operation]:
    """How /openapi.json describes these endpoints (FastAPI cannot see plain ASGI routes)."""
    return [
        Operation("POST", "/api/send", send, body=SendBody, reply=SendReply, status=202,
                  errors=(400, 401, 403, 413, 422, 429, 503)),
        Operation("GET", "/api/poll", poll, query=poll_query, reply=BatchModel, errors=(400, 401, 403, 429, 503)),
        Operation("GET", "/api/events", events, query=StreamQuery, media_type="text/event-stream",
                  errors=(400, 401, 403, 429, 503)),
    ]
