"""The HTTP API: the only door browsers have to the shared model.

Stateless across replicas: a session is a signed token any replica verifies;
what a client has seen is the ``(epoch, seq)`` it sends back; which sessions
exist is the model's ``participants``, mirrored by every replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traitsweb import protocol
from traitsweb.broker import BrokerUnavailable

from . import errors
from .config import GatewaySettings
from .errors import ApiError
from .hub import Batch
from .limits import RateLimiter
from .link import BrokerLink
from .metrics import Metrics
from .tokens import Session, TokenError, Tokens

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
COOKIE = "traitsweb_session"
#: how long a freshly issued token may wait for its login to reach this replica
LOGIN_GRACE = 15.0
MAX_HELD_PER_SESSION = 8
_CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9_-]{1,31}")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
]


class _SecurityHeaders:
    """Adds the security headers to every HTTP response (a plain ASGI middleware: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: GatewaySettings) -> FastAPI:
    tokens = Tokens(settings.session_secret.get_secret_value().encode(), ttl=settings.token_ttl)
    metrics = Metrics()
    send_limit = RateLimiter(settings.send_rate, settings.send_burst)
    login_limit = RateLimiter(settings.login_rate, settings.login_burst)
    links: list[BrokerLink] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with BrokerLink(settings, asyncio.get_running_loop()) as link:
            links.append(link)
            yield
            links.clear()

    app = FastAPI(
        title="traitsweb gateway",
        version="0.1.0",
        description="Browsers on the live Traits model: Comet long-poll, SSE and WebSocket bridged to STOMP.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def link() -> BrokerLink:
        if not links:
            raise ApiError(503, "starting", "the gateway is starting")
        return links[0]

    def ready_hub() -> Any:
        hub = link().hub
        if not hub.ready:
            raise ApiError(503, "not_ready", "the gateway has not loaded the model's state yet")
        return hub

    # -- request helpers ------------------------------------------------------------------
    def own_origin(request: Request | WebSocket) -> str:
        scheme = request.headers.get("x-forwarded-proto") or ("https" if request.url.scheme in ("https", "wss") else "http")
        return f"{scheme}://{request.headers.get('host', '')}"

    def check_origin(request: Request | WebSocket, *, required: bool) -> None:
        origin = request.headers.get("origin")
        if origin is None:
            if required:
                raise ApiError(403, "origin_required", "a browser request with a session cookie must carry Origin")
            return
        if origin.rstrip("/") != own_origin(request) and origin.rstrip("/") not in settings.origins:
            raise ApiError(403, "foreign_origin", f"requests from {origin} are not allowed")

    def client_address(request: Request) -> str:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[-1].strip()
        return request.client.host if request.client else "?"

    def token_of(request: Request | WebSocket) -> tuple[str, bool]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip(), False
        cookie = request.cookies.get(COOKIE)
        if cookie:
            return cookie, True
        if isinstance(request, WebSocket) and request.query_params.get("token"):
            return request.query_params["token"], False
        raise ApiError(401, "no_session", "log in first (POST /api/login)")

    async def authenticate(request: Request | WebSocket, *, state_changing: bool = False) -> Session:
        token, from_cookie = token_of(request)
        check_origin(request, required=from_cookie and state_changing)
        try:
            session = tokens.verify(token)
        except TokenError as exc:
            raise ApiError(401, "bad_session", str(exc)) from None
        hub = ready_hub()
        if session.id not in hub.participants:
            fresh = time.time() - session.issued < LOGIN_GRACE
            if not (fresh and await hub.wait_until(lambda: session.id in hub.participants, 5.0)):
                raise ApiError(401, "logged_out", "this session is logged out; log in again")
        link().served(session.id)
        return session

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body):
            raise ApiError(413, "too_large", f"request bodies are limited to {settings.max_body} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body:
                raise ApiError(413, "too_large", f"request bodies are limited to {settings.max_body} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json", "the body is not valid UTF-8 JSON") from None

    async def to_broker(destination: str, message: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            await link().send(destination, message)
        except BrokerUnavailable as exc:
            raise ApiError(503, "broker_unavailable", f"the message broker is unavailable: {exc}",
                           headers={"Retry-After": "2"}) from None
        metrics.send_latency.observe(time.perf_counter() - started)

    # -- pages --------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Subscribed to the broker and holding the model's state."""
        current = links[0] if links else None
        ok = current is not None and current.ready
        body = {"status": "ready" if ok else "not_ready"}
        if current is not None and current.hub.ready:
            body |= {"epoch": current.hub.mirror.epoch, "seq": current.hub.mirror.seq}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus metrics of this replica."""
        if links:
            metrics.sessions.set(len(links[0].hub.participants))
            metrics.reconnects.set(links[0].client.reconnects)
            metrics.polls_held.set(sum(links[0].holding.values()))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- the API ------------------------------------------------------------------------------
    @app.post("/api/login", tags=["session"])
    async def login(request: Request) -> JSONResponse:
        """Body `{"name": "alice"}` -> a session token (also set as an HttpOnly cookie)."""
        check_origin(request, required=False)
        wait = login_limit.take(client_address(request))
        if wait:
            raise ApiError(429, "rate_limited", "too many log-ins", headers={"Retry-After": RateLimiter.retry_after(wait)})
        body = await read_json(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ApiError(400, "bad_request", 'the body must be {"name": "..."}')
        name = name.strip()
        if not 1 <= len(name) <= 64 or not name.isprintable():
            raise ApiError(422, "invalid_name", "a name is 1 to 64 printable characters")
        hub = ready_hub()
        token, session = tokens.issue(name)
        await to_broker(settings.control_destination,
                        {"type": "login", "id": session.id, "name": name, "msg_id": uuid.uuid4().hex})
        if not await hub.wait_until(lambda: session.id in hub.participants, 10.0):
            raise ApiError(503, "model_unavailable", "the model did not confirm the log-in in time; try again",
                           headers={"Retry-After": "2"})
        response = JSONResponse({"session": token, "id": session.id, "name": name,
                                 "epoch": hub.mirror.epoch, "seq": hub.mirror.seq})
        response.set_cookie(COOKIE, token, max_age=int(settings.token_ttl), httponly=True, samesite="strict",
                            secure=own_origin(request).startswith("https"), path="/")
        return response

    @app.get("/api/session", tags=["session"])
    async def whoami(request: Request) -> dict[str, str]:
        """The session the cookie or token names."""
        session = await authenticate(request)
        return {"id": session.id, "name": session.name}

    @app.post("/api/logout", tags=["session"])
    async def logout(request: Request) -> JSONResponse:
        """End the session: the model removes its handler, participant entry and rating."""
        session = await authenticate(request, state_changing=True)
        await to_broker(settings.control_destination,
                        {"type": "logout", "id": session.id, "reason": "logout", "msg_id": uuid.uuid4().hex})
        response = JSONResponse({"status": "logged_out"})
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.post("/api/send", tags=["model"], status_code=202)
    async def send(request: Request) -> JSONResponse:
        """Body `{"trait": "entry_field", "value": "hi", "msg_id": "c1"}` -> 202 once the broker has taken it.

        `msg_id` is optional; with it, a retry of the same send (after a timeout or a 502) is applied once.
        """
        session = await authenticate(request, state_changing=True)
        wait = send_limit.take(session.id)
        if wait:
            raise ApiError(429, "rate_limited", "too many sends", headers={"Retry-After": RateLimiter.retry_after(wait)})
        body = await read_json(request)
        if (
            not isinstance(body, dict)
            or not {"trait", "value"} <= set(body) <= {"trait", "value", "msg_id"}
            or not isinstance(body["trait"], str)
            or not _CLIENT_MSG_ID.fullmatch(str(body.get("msg_id", "x")))
            or not isinstance(body.get("msg_id", ""), str)
        ):
            raise ApiError(400, "bad_request",
                           'the body must be {"trait": "<name>", "value": <JSON>, "msg_id": "<optional, 1-31 of A-Za-z0-9_->"}')
        schema = ready_hub().mirror.schema.get(body["trait"])
        if schema is None:
            raise ApiError(403, "not_writable", f"{body['trait'][:64]!r} is not a trait clients may set")
        problem = protocol.check_value(schema, body["value"])
        if problem is not None:
            raise ApiError(422, "invalid_value", f"{body['trait']} {problem}")
        # a client-chosen msg_id makes retries safe: the model applies one msg_id once
        msg_id = f"{session.id}-{body['msg_id']}" if "msg_id" in body else uuid.uuid4().hex
        await to_broker(settings.input_destination,
                        {"id": session.id, "trait": body["trait"], "value": body["value"], "msg_id": msg_id})
        metrics.messages_in.inc()
        return JSONResponse({"msg_id": msg_id}, status_code=202)

    @app.get("/api/state", tags=["model"])
    async def state(request: Request) -> Response:
        """The full current state with its `epoch` and `seq`."""
        await authenticate(request)
        return Response(ready_hub().state_text(), media_type="application/json")

    async def held(session: Session, since: int, epoch: str | None, timeout: float) -> Batch:
        current = link()
        if current.holding.get(session.id, 0) >= MAX_HELD_PER_SESSION:
            raise ApiError(429, "too_many_waits", "too many open polls for this session", headers={"Retry-After": "1"})
        current.holding[session.id] = current.holding.get(session.id, 0) + 1
        started = time.perf_counter()
        try:
            batch = await current.hub.wait(since, epoch, session.id, timeout)
        except LookupError:
            raise ApiError(503, "not_ready", "the gateway has lost the model's state; retry") from None
        finally:
            count = current.holding[session.id] - 1
            if count:
                current.holding[session.id] = count
            else:
                del current.holding[session.id]
            current.served(session.id)
        metrics.poll_latency.observe(time.perf_counter() - started)
        metrics.messages_out.inc(len(batch.texts))
        return batch

    @app.get("/api/poll", tags=["model"])
    async def poll(
        request: Request,
        since: int = Query(0, ge=0, description="the last seq the client has"),
        epoch: str = Query("", max_length=64, description="the epoch of `since`"),
        timeout: float = Query(settings.poll_timeout, ge=0, le=settings.poll_timeout, description="seconds to hold"),
    ) -> Response:
        """The Comet long-poll: everything after `since` this session may see, at once or as soon as it comes."""
        session = await authenticate(request)
        batch = await held(session, since, epoch or None, timeout)
        return Response(batch.encode(link().hub), media_type="application/json")

    @app.get("/api/events", tags=["model"])
    async def events(
        request: Request,
        since: int = Query(0, ge=0),
        epoch: str = Query("", max_length=64),
    ) -> StreamingResponse:
        """Server-Sent Events: one `batch` event per poll-like reply; resumes from `Last-Event-ID` (= seq)."""
        session = await authenticate(request)
        check_origin(request, required=False)
        last = request.headers.get("last-event-id", "")
        position = int(last) if last.isdigit() else since

        async def stream() -> AsyncIterator[str]:
            nonlocal position
            current_epoch = epoch or None
            yield "retry: 2000\n\n"
            while True:
                batch = await held(session, position, current_epoch, 15.0)
                hub = link().hub
                if batch.reset:
                    yield f"id: {batch.seq}\nevent: reset\ndata: {hub.reset_text()}\n\n"
                elif batch.texts:
                    yield f"id: {batch.seq}\nevent: batch\ndata: {batch.encode(hub)}\n\n"
                else:
                    yield ": keep-alive\n\n"
                position, current_epoch = batch.seq, batch.epoch
                if session.id not in hub.participants:
                    yield 'event: logged_out\ndata: {"error":"logged_out"}\n\n'
                    return

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.websocket("/api/ws")
    async def websocket(socket: WebSocket, since: int = 0, epoch: str = "") -> None:
        """WebSocket: the server sends poll-like replies as text frames; the client only listens."""
        try:
            session = await authenticate(socket)
            check_origin(socket, required=False)
        except ApiError as exc:
            await socket.close(code=4403 if exc.status == 403 else 4401, reason=exc.code)
            return
        await socket.accept()
        closed = asyncio.Event()

        async def reader() -> None:
            try:
                while True:
                    await socket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                closed.set()

        reading = asyncio.create_task(reader())
        position, current_epoch = max(since, 0), epoch or None
        try:
            while not closed.is_set():
                waiting = asyncio.create_task(held(session, position, current_epoch, 15.0))
                done, _ = await asyncio.wait({waiting, reading}, return_when=asyncio.FIRST_COMPLETED)
                if waiting not in done:
                    waiting.cancel()
                    break
                batch = waiting.result()
                hub = link().hub
                if batch.reset or batch.texts:
                    await socket.send_text(batch.encode(hub))
                position, current_epoch = batch.seq, batch.epoch
                if session.id not in hub.participants:
                    await socket.close(code=4401, reason="logged_out")
                    break
        except (WebSocketDisconnect, RuntimeError, ApiError):
            pass
        finally:
            reading.cancel()

    return app
