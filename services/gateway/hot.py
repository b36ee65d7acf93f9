"""The hot paths as plain ASGI: the send, the long-poll, Server-Sent Events and the WebSocket.

A poll is answered ~20 times a second per client while a chat is busy, and a
send is on every message's critical path, so these four skip FastAPI's
routing, dependency and parameter machinery: the query is parsed by hand
(same rules, same ``400 bad_request`` errors), a reply is the hub's shared
bytes, and the headers are built once. Their OpenAPI description is
:func:`openapi_paths`, merged into FastAPI's schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import Receive, Scope, Send

from traitsweb import protocol
from traitsweb.broker import BrokerUnavailable

from . import errors, streams
from .auth import Auth
from .body import read_json
from .config import GatewaySettings
from .errors import ApiError
from .hub import Batch, Hub, Waiter
from .limits import PollThrottle, RateLimiter
from .link import BrokerLink
from .metrics import Metrics
from .security import SECURITY_HEADERS, SecurityHeaders
from .tokens import Session

__all__ = ["PATHS", "HotPaths", "openapi_paths"]

PATHS = frozenset({"/api/send", "/api/poll", "/api/events", "/api/ws"})
_CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9_-]{1,31}")
MAX_HELD_PER_SESSION = 8
#: an SSE stream or WebSocket writes at least this often (an SSE comment; nothing on a WebSocket)
KEEPALIVE = 15.0
_JSON = [(b"content-type", b"application/json"), *SECURITY_HEADERS]
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"), *SECURITY_HEADERS]


class Query:
    """The query parameters of a stream request, checked like FastAPI would (``400 bad_request``)."""

    def __init__(self, scope: Scope, max_timeout: float) -> None:
        params = _query(scope["query_string"])
        self.since = self._since(params.get("since", "0"))
        self.epoch = params.get("epoch", "")
        if len(self.epoch) > 64:
            raise ApiError(400, "bad_request", "query.epoch: String should have at most 64 characters")
        self.timeout = self._timeout(params.get("timeout"), max_timeout)
        self.token = params.get("token") or None

    @staticmethod
    def _since(value: str) -> int:
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise ApiError(400, "bad_request", "query.since: Input should be an integer greater than or equal to 0")
        return int(value)

    @staticmethod
    def _timeout(value: str | None, maximum: float) -> float:
        if value is None:
            return maximum
        try:
            seconds = float(value)
        except ValueError:
            raise ApiError(400, "bad_request", "query.timeout: Input should be a valid number") from None
        if not 0 <= seconds <= maximum:  # also refuses nan and inf
            raise ApiError(400, "bad_request", f"query.timeout: Input should be between 0 and {maximum:g}")
        return seconds


class HotPaths:
    """``POST /api/send``, ``GET /api/poll``, ``GET /api/events`` and ``/api/ws``."""

    def __init__(self, settings: GatewaySettings, auth: Auth, link: Callable[[], BrokerLink],
                 ready_hub: Callable[[], Hub], metrics: Metrics) -> None:
        self._settings = settings
        self._auth = auth
        self._link = link
        self._ready_hub = ready_hub
        self._metrics = metrics
        self._send_limit = RateLimiter(settings.send_rate, settings.send_burst)
        # bounds: polls answered at once build a reply each; a client behind catches up in one
        self._poll_limit = PollThrottle(settings.poll_rate, settings.poll_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if scope["path"] == "/api/ws":
                await self._websocket(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 4404, "reason": "not_found"})
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == "/api/send":
                if method != "POST":
                    raise ApiError(405, "method_not_allowed", "Method Not Allowed", headers={"Allow": "POST"})
                await self._send(scope, receive, send)
            elif method != "GET" or path == "/api/ws":
                raise ApiError(405, "method_not_allowed", "Method Not Allowed", headers={"Allow": "GET"})
            elif path == "/api/poll":
                await self._poll(scope, send)
            else:
                await self._events(scope, receive, send)
        except ApiError as exc:
            await SecurityHeaders(errors.response(exc))(scope, receive, send)

    # -- POST /api/send ---------------------------------------------------------------------------
    async def _send(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Body ``{"trait", "value", "msg_id"?}`` -> ``202 {"msg_id"}`` once the broker has taken it."""
        headers = _headers(scope)
        session = await self._auth.session(headers, scope["scheme"], state_changing=True)
        wait = self._send_limit.take(session.id)
        if wait:
            raise ApiError(429, "rate_limited", "too many sends", headers={"Retry-After": RateLimiter.retry_after(wait)})
        body = await read_json(receive, headers, self._settings.max_body)
        if (
            not isinstance(body, dict)
            or not {"trait", "value"} <= set(body) <= {"trait", "value", "msg_id"}
            or not isinstance(body["trait"], str)
            or not isinstance(body.get("msg_id", ""), str)
            or not _CLIENT_MSG_ID.fullmatch(body.get("msg_id", "x"))
        ):
            raise ApiError(400, "bad_request",
                           'the body must be {"trait": "<name>", "value": <JSON>, "msg_id": "<optional, 1-31 of A-Za-z0-9_->"}')
        schema = self._ready_hub().mirror.schema.get(body["trait"])
        if schema is None:
            raise ApiError(403, "not_writable", f"{body['trait'][:64]!r} is not a trait clients may set")
        problem = protocol.check_value(schema, body["value"])
        if problem is not None:
            raise ApiError(422, "invalid_value", f"{body['trait']} {problem}")
        # a client-chosen msg_id makes retries safe: the model applies one msg_id once
        msg_id = f"{session.id}-{body['msg_id']}" if "msg_id" in body else uuid.uuid4().hex
        await self.to_broker(self._settings.input_destination,
                             {"id": session.id, "trait": body["trait"], "value": body["value"], "msg_id": msg_id})
        self._metrics.messages_in.inc()
        reply = b'{"msg_id":%s}' % json.dumps(msg_id).encode()
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-length", b"%d" % len(reply)), *_JSON]})
        await send({"type": "http.response.body", "body": reply})

    async def to_broker(self, destination: str, message: dict[str, Any]) -> None:
        """Hand ``message`` to the broker and wait for its receipt; ``503 broker_unavailable`` if it fails."""
        started = time.perf_counter()
        try:
            await self._link().send(destination, message)
        except BrokerUnavailable as exc:
            raise ApiError(503, "broker_unavailable", f"the message broker is unavailable: {exc}",
                           headers={"Retry-After": "2"}) from None
        self._metrics.send_latency.observe(time.perf_counter() - started)

    # -- waiting, for polls and streams ---------------------------------------------------------------
    async def _held(self, session: Session, since: int, epoch: str | None, timeout: float,
                    waiter: Waiter | None = None) -> Batch:
        link = self._link()
        holding = link.holding
        count = holding.get(session.id, 0)
        if count >= MAX_HELD_PER_SESSION:
            raise ApiError(429, "too_many_waits", "too many open polls for this session", headers={"Retry-After": "1"})
        holding[session.id] = count + 1
        started = time.perf_counter()
        try:
            batch = await link.hub.wait(since, epoch, session.id, timeout, waiter)
        except LookupError:
            raise ApiError(503, "not_ready", "the gateway has lost the model's state; retry") from None
        finally:
            count = holding[session.id] - 1
            if count:
                holding[session.id] = count
            else:
                del holding[session.id]
            link.served(session.id)
        self._metrics.observe_wait(time.perf_counter() - started, batch.count)
        return batch

    # -- GET /api/poll --------------------------------------------------------------------------
    async def _poll(self, scope: Scope, send: Send) -> None:
        query = Query(scope, self._settings.poll_timeout)
        session = await self._auth.session(_headers(scope), scope["scheme"])
        self._poll_limit.poll(self._link().hub, session.id, query.since, query.epoch or None)  # bounds: 429
        batch = await self._held(session, query.since, query.epoch or None, query.timeout)
        body = batch.body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body)), *_JSON]})
        await send({"type": "http.response.body", "body": body})

    # -- GET /api/events --------------------------------------------------------------------------
    async def _events(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = Query(scope, self._settings.poll_timeout)
        headers = _headers(scope)
        session = await self._auth.session(headers, scope["scheme"])  # also refuses a foreign Origin
        self._poll_limit.poll(self._link().hub, session.id, query.since, query.epoch or None)  # bounds: 429
        last = headers.get("last-event-id", "")
        position = int(last) if last.isascii() and last.isdigit() and len(last) <= 18 else query.since
        epoch = query.epoch or None
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        waiter = Waiter(self._link().hub)
        watcher = asyncio.create_task(_until_disconnected(receive, waiter, "http.disconnect"))
        end = b""
        try:
            while True:
                if streams.expired(session):  # bounds: the stream ends with its token
                    end = streams.EXPIRED_EVENT
                    break
                try:
                    batch = await self._held(session, position, epoch, streams.hold(session, KEEPALIVE), waiter)
                except ApiError as exc:  # the response has started: end the stream with an event, not a 500
                    end = b"event: error\ndata: %s\n\n" % errors.body(exc.code, exc.detail)
                    break
                if waiter.interrupted:
                    return
                if batch.reset:
                    chunk = b"id: %d\nevent: reset\ndata: %s\n\n" % (batch.seq, batch.body)
                elif batch.count:
                    chunk = b"id: %d\nevent: batch\ndata: %s\n\n" % (batch.seq, batch.body)
                else:
                    chunk = b": keep-alive\n\n"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                position, epoch = batch.seq, batch.epoch
                if session.id not in self._link().hub.participants:
                    end = b'event: logged_out\ndata: {"error":"logged_out"}\n\n'
                    break
        finally:
            watcher.cancel()
        await send({"type": "http.response.body", "body": end, "more_body": False})

    # -- /api/ws ------------------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The server sends poll-like replies as text frames; the client only listens."""
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            query = Query(scope, self._settings.poll_timeout)
            headers = _headers(scope)
            session = await self._auth.session(headers, scope["scheme"], query_token=query.token)
            self._poll_limit.poll(self._link().hub, session.id, query.since, query.epoch or None)  # bounds: 1013
        except ApiError as exc:
            code = {400: 4400, 403: 4403}.get(exc.status, 4401 if exc.status == 401 else 1013)
            await send({"type": "websocket.close", "code": code, "reason": exc.code})
            return
        await send({"type": "websocket.accept"})
        waiter = Waiter(self._link().hub)
        watcher = asyncio.create_task(_until_disconnected(receive, waiter, "websocket.disconnect"))
        position, epoch = query.since, query.epoch or None
        close: tuple[int, str] | None = None
        try:
            while True:
                if streams.expired(session):  # bounds: the stream ends with its token
                    close = streams.EXPIRED_CLOSE
                    break
                try:
                    batch = await self._held(session, position, epoch, streams.hold(session, KEEPALIVE), waiter)
                except ApiError as exc:
                    close = (1013, exc.code)  # try again later (too many waits, state lost)
                    break
                if waiter.interrupted:
                    return
                if batch.reset or batch.count:
                    await send({"type": "websocket.send", "text": batch.text})
                position, epoch = batch.seq, batch.epoch
                if session.id not in self._link().hub.participants:
                    close = (4401, "logged_out")
                    break
        except OSError:  # the client went away mid-send
            return
        finally:
            watcher.cancel()
        with contextlib.suppress(OSError):
            await send({"type": "websocket.close", "code": close[0], "reason": close[1]})


def _query(raw: bytes) -> dict[str, str]:
    """``a=1&b=x%20y`` -> ``{"a": "1", "b": "x y"}`` (a repeated name: the last), unquoting only when needed."""
    params = {}
    for part in raw.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        params[name] = value
    return params


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (uvicorn lower-cases them; a repeated one: the last)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def _until_disconnected(receive: Receive, waiter: Waiter, disconnect: str) -> None:
    """Read (and drop) what the client sends until it disconnects, then end the stream's wait."""
    while (await receive())["type"] != disconnect:
        pass
    waiter.interrupt()


def _error_responses(*statuses: int) -> dict[str, Any]:
    texts = {400: "Bad query parameters or body", 401: "No session, a bad one, or logged out",
             403: "Foreign Origin, missing Origin with a cookie, or a trait clients may not set",
             413: "Body over the limit", 422: "A value the trait's schema refuses",
             429: "Too many sends, polls answered at once or open polls for this session (`Retry-After`)",
             503: "Starting, the model's state is not loaded, or the broker is unavailable"}
    return {str(s): {"description": texts[s], "content": {"application/json": {"schema": errors.SCHEMA}}} for s in statuses}


def openapi_paths(poll_timeout: float) -> dict[str, Any]:
    """The OpenAPI description of the plain-ASGI paths (FastAPI cannot see them)."""
    since = {"name": "since", "in": "query", "required": False, "description": "the last seq the client has",
             "schema": {"type": "integer", "minimum": 0, "default": 0}}
    epoch = {"name": "epoch", "in": "query", "required": False, "description": "the epoch of `since`",
             "schema": {"type": "string", "maxLength": 64, "default": ""}}
    timeout = {"name": "timeout", "in": "query", "required": False, "description": "seconds to hold",
               "schema": {"type": "number", "minimum": 0, "maximum": poll_timeout, "default": poll_timeout}}
    reply = {"type": "object", "properties": {"epoch": {"type": "string"}, "seq": {"type": "integer"},
                                              "messages": {"type": "array", "items": {"type": "object"}},
                                              "reset": {"type": "boolean"}, "state": {"type": "object"}}}
    send = {"type": "object", "required": ["trait", "value"], "additionalProperties": False,
            "properties": {"trait": {"type": "string"}, "value": {},
                           "msg_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,31}$"}}}
    return {
        "/api/send": {"post": {
            "tags": ["model"], "summary": "Send", "operationId": "send_api_send_post",
            "description": "Body `{\"trait\": \"entry_field\", \"value\": \"hi\", \"msg_id\": \"c1\"}` -> 202 once "
                           "the broker has taken it. `msg_id` is optional; with it, a retry of the same send (after a "
                           "timeout or a 502) is applied once.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": send}}},
            "responses": {"202": {"description": "Taken by the broker", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"msg_id": {"type": "string"}}}}}},
                          **_error_responses(400, 401, 403, 413, 422, 429, 503)},
        }},
        "/api/poll": {"get": {
            "tags": ["model"], "summary": "Poll", "operationId": "poll_api_poll_get",
            "description": "The Comet long-poll: everything after `since` this session may see, at once or as soon "
                           "as it comes (or an empty reply after `timeout`; a `reset` with the full state when "
                           "`since`/`epoch` cannot be continued).",
            "parameters": [since, epoch, timeout],
            "responses": {"200": {"description": "Messages after `since`, or a reset",
                                  "content": {"application/json": {"schema": reply}}},
                          **_error_responses(400, 401, 403, 429, 503)},
        }},
        "/api/events": {"get": {
            "tags": ["model"], "summary": "Events", "operationId": "events_api_events_get",
            "description": "Server-Sent Events: one `batch` event per poll-like reply (`reset` for a full state); "
                           "resumes from `Last-Event-ID` (= seq).",
            "parameters": [since, epoch],
            "responses": {"200": {"description": "An endless event stream", "content": {"text/event-stream": {}}},
                          **_error_responses(400, 401, 403, 429, 503)},
        }},
    }
