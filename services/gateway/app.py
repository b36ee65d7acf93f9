"""The HTTP API: the only door browsers have to the shared model, and its one route table.

Stateless across replicas: a session is a signed token any replica verifies;
what a client has seen is the ``(epoch, seq)`` it sends back; which sessions
exist is the model's ``participants``, mirrored by every replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.routing import Route, WebSocketRoute

from . import errors
from .auth import Auth
from .config import GatewaySettings
from .errors import responses
from .link import BrokerLink
from .metrics import Metrics
from .models import LoginBody, LoginReply, SessionReply, StateReply, stream_query
from .replica import Replica
from .routes import history, ops, pages, session, stream
from .security import SecurityHeaders
from .tokens import Tokens

__all__ = ["create_app"]


def create_app(settings: GatewaySettings) -> FastAPI:
    tokens = Tokens(settings.session_secret.get_secret_value().encode(), ttl=settings.token_ttl)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Replica]]:
        async with BrokerLink(settings, asyncio.get_running_loop()) as link:
            yield {"replica": Replica(settings, link, Auth(tokens, settings.origins, link), Metrics())}

    app = FastAPI(
        title="traitsweb gateway",
        version="0.1.0",
        description="Browsers on the live Traits model: Comet long-poll, SSE and WebSocket bridged to STOMP.",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},  # Prometheus (/metrics) is ours
    )
    errors.install(app)
    app.add_middleware(SecurityHeaders)

    # -- the route table ------------------------------------------------------------------------------
    # the hot paths: plain ASGI, described to OpenAPI by stream.operations(); ahead of FastAPI's own
    # /openapi.json and /docs routes, since the router tries routes in order and these take most requests
    app.router.routes[:0] = [
        Route("/api/send", stream.send, methods=["POST"], include_in_schema=False),
        Route("/api/poll", stream.poll, methods=["GET"], include_in_schema=False),
        Route("/api/events", stream.events, methods=["GET"], include_in_schema=False),
        WebSocketRoute("/api/ws", stream.websocket),
    ]
    api = app.add_api_route
    api("/", pages.index, methods=["GET", "HEAD"], include_in_schema=False)
    api("/generated", pages.generated, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    api("/healthz", ops.healthz, methods=["GET"], tags=["operations"])
    api("/readyz", ops.readyz, methods=["GET"], tags=["operations"])
    api("/metrics", ops.metrics, methods=["GET"], tags=["operations"], response_class=Response)
    api("/api/login", session.login, methods=["POST"], tags=["session"], response_model=LoginReply,
        openapi_extra=_body(LoginBody), responses=responses(400, 403, 413, 422, 429, 503))
    api("/api/session", session.whoami, methods=["GET"], tags=["session"], response_model=SessionReply,
        responses=responses(401, 503))
    api("/api/logout", session.logout, methods=["POST"], tags=["session"], responses=responses(401, 403, 503))
    api("/api/state", session.state, methods=["GET"], tags=["model"], response_model=StateReply,
        responses=responses(401, 503))
    api("/api/history", history.history, methods=["GET"], tags=["model"], response_model=history.HistoryReply,
        openapi_extra=history.OPENAPI, responses=responses(400, 401, 404, 429, 503))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for operation in stream.operations(stream_query(settings.poll_timeout)):
                schema["paths"].setdefault(operation.path, {})[operation.method.lower()] = operation.describe()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON request body the route reads itself (for its size limit and error codes), for OpenAPI."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}
