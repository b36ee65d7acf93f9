"""Sessions and the full state: log in, who am I, log out, the state with its position."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from traitsweb import protocol

from ..auth import COOKIE
from ..body import read_json
from ..errors import ApiError
from ..limits import RateLimiter
from ..models import LoginBody, SessionReply, parse
from ..replica import Replica

__all__ = ["login", "logout", "state", "whoami"]

ReplicaDep = Annotated[Replica, Depends(Replica.of_request)]


def client_address(request: Request) -> str:
    """The peer, or the last address nginx appended to X-Forwarded-For."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "?"


async def login(request: Request, replica: ReplicaDep) -> JSONResponse:
    """Body `{"name": "alice"}` -> a session token (also set as an HttpOnly cookie)."""
    auth, settings = replica.auth, replica.settings
    auth.check_origin(request.headers, request.url.scheme, required=False)
    address = client_address(request)
    wait = replica.login_limit.take(address)
    if wait:
        raise ApiError(429, "rate_limited", "too many log-ins", headers={"Retry-After": RateLimiter.retry_after(wait)})
    body = parse(LoginBody, await read_json(request.receive, request.headers, settings.max_body), "body")
    name = body.name.strip()
    if not 1 <= len(name) <= protocol.NAME_MAX or not name.isprintable():
        raise ApiError(422, "invalid_name", f"a name is 1 to {protocol.NAME_MAX} printable characters")
    hub = replica.link.ready_hub()
    token, session = auth.tokens.issue(name)
    replica.session_caps.admit(address, session.id, hub.participants)  # 429/503 too_many_sessions
    await replica.send(settings.control_destination,
                       {"type": "login", "id": session.id, "name": name, "msg_id": uuid.uuid4().hex})
    if not await hub.wait_until(lambda: session.id in hub.participants, 10.0):
        raise ApiError(503, "model_unavailable", "the model did not confirm the log-in in time; try again",
                       headers={"Retry-After": "2"})
    response = JSONResponse({"session": token, "id": session.id, "name": name,
                             "epoch": hub.state.epoch, "seq": hub.state.seq})
    secure = auth.own_origin(request.headers, request.url.scheme).startswith("https")
    response.set_cookie(COOKIE, token, max_age=int(settings.token_ttl), httponly=True, samesite="strict",
                        secure=secure, path="/")
    return response


async def whoami(request: Request, replica: ReplicaDep) -> SessionReply:
    """The session the cookie or token names."""
    session = await replica.auth.session(request.headers, request.url.scheme)
    return SessionReply(id=session.id, name=session.name)


async def logout(request: Request, replica: ReplicaDep) -> JSONResponse:
    """End the session: the model removes its handler, participant entry and rating."""
    session = await replica.auth.session(request.headers, request.url.scheme, state_changing=True)
    await replica.send(replica.settings.control_destination,
                       {"type": "logout", "id": session.id, "reason": "logout", "msg_id": uuid.uuid4().hex})
    response = JSONResponse({"status": "logged_out"})
    response.delete_cookie(COOKIE, path="/")
    return response


async def state(request: Request, replica: ReplicaDep) -> Response:
    """The full current state with its `epoch` and `seq`."""
    session = await replica.auth.session(request.headers, request.url.scheme)
    replica.state_limit.check(session.id)
    return Response(replica.link.ready_hub().state_text(), media_type="application/json")
