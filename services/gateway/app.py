"""The HTTP API: the only door browsers have to the shared model.

Stateless across replicas: a session is a signed token any replica verifies;
what a client has seen is the ``(epoch, seq)`` it sends back; which sessions
exist is the model's ``participants``, mirrored by every replica.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors
from . import hot as hot_paths
from .auth import COOKIE, Auth
from .body import read_json
from .config import GatewaySettings
from .errors import ApiError
from .hub import Hub
from .limits import RateLimiter, Throttle
from .link import BrokerLink
from .metrics import Metrics
from .security import SecurityHeaders
from .sessions import SessionCaps
from .tokens import Session, Tokens

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


class _Dispatch:
    """The replica's ASGI app: the hot paths (:mod:`.hot`) first, FastAPI for everything else."""

    def __init__(self, api: FastAPI, hot: hot_paths.HotPaths) -> None:
        self.api = api
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and scope["path"] in hot_paths.PATHS:
            await self.hot(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(settings: GatewaySettings) -> ASGIApp:
    tokens = Tokens(settings.session_secret.get_secret_value().encode(), ttl=settings.token_ttl)
    metrics = Metrics()
    login_limit = RateLimiter(settings.login_rate, settings.login_burst)
    # bounds: sessions per client address and in all; /api/state per session
    session_caps = SessionCaps(per_address=settings.sessions_per_address, total=settings.max_sessions)
    state_limit = Throttle(settings.state_rate, settings.state_burst, what="state reads")
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
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def link() -> BrokerLink:
        if not links:
            raise ApiError(503, "starting", "the gateway is starting")
        return links[0]

    def ready_hub() -> Hub:
        hub = link().hub
        if not hub.ready:
            raise ApiError(503, "not_ready", "the gateway has not loaded the model's state yet")
        return hub

    auth = Auth(tokens, settings.origins, link, ready_hub)

    def client_address(request: Request) -> str:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[-1].strip()
        return request.client.host if request.client else "?"

    async def authenticate(request: Request, *, state_changing: bool = False) -> Session:
        return await auth.session(request.headers, request.url.scheme, state_changing=state_changing)

    hot = hot_paths.HotPaths(settings, auth, link, ready_hub, metrics)
    to_broker = hot.to_broker

    # -- pages --------------------------------------------------------------------------------
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
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
        auth.check_origin(request.headers, request.url.scheme, required=False)
        address = client_address(request)
        wait = login_limit.take(address)
        if wait:
            raise ApiError(429, "rate_limited", "too many log-ins", headers={"Retry-After": RateLimiter.retry_after(wait)})
        body = await read_json(request.receive, request.headers, settings.max_body)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ApiError(400, "bad_request", 'the body must be {"name": "..."}')
        name = name.strip()
        if not 1 <= len(name) <= 64 or not name.isprintable():
            raise ApiError(422, "invalid_name", "a name is 1 to 64 printable characters")
        hub = ready_hub()
        token, session = tokens.issue(name)
        session_caps.admit(address, session.id, hub.participants)  # bounds: 429/503 too_many_sessions
        await to_broker(settings.control_destination,
                        {"type": "login", "id": session.id, "name": name, "msg_id": uuid.uuid4().hex})
        if not await hub.wait_until(lambda: session.id in hub.participants, 10.0):
            raise ApiError(503, "model_unavailable", "the model did not confirm the log-in in time; try again",
                           headers={"Retry-After": "2"})
        response = JSONResponse({"session": token, "id": session.id, "name": name,
                                 "epoch": hub.mirror.epoch, "seq": hub.mirror.seq})
        response.set_cookie(COOKIE, token, max_age=int(settings.token_ttl), httponly=True, samesite="strict",
                            secure=auth.own_origin(request.headers, request.url.scheme).startswith("https"), path="/")
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

    @app.get("/api/state", tags=["model"])
    async def state(request: Request) -> Response:
        """The full current state with its `epoch` and `seq`."""
        session = await authenticate(request)
        state_limit.check(session.id)  # bounds: 429 rate_limited
        return Response(ready_hub().state_text(), media_type="application/json")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema["paths"].update(hot_paths.openapi_paths(settings.poll_timeout))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return _Dispatch(app, hot)
