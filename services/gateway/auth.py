"""Who is asking: the session token (Authorization header, cookie, or a WebSocket's query), checked Origin.

Works on any mapping of lower-case header names (Starlette's ``Headers``) so
that FastAPI's routes and the plain-ASGI stream routes (:mod:`.routes.stream`)
share one implementation. A verified token is remembered
(bounded), so its HMAC is checked once per replica, not once per poll; its
expiry is still checked every time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.requests import cookie_parser

from .errors import ApiError
from .link import BrokerLink
from .tokens import Session, TokenError, Tokens

__all__ = ["COOKIE", "Auth"]

COOKIE = "traitsweb_session"
#: how long a freshly issued token may wait for its login to reach this replica
LOGIN_GRACE = 15.0
#: verified tokens remembered (then the memory starts again)
VERIFIED_MAX = 100_000


class Auth:
    def __init__(self, tokens: Tokens, origins: frozenset[str], link: BrokerLink) -> None:
        self.tokens = tokens
        self._origins = origins
        self._link = link
        self._verified: dict[str, Session] = {}

    @staticmethod
    def own_origin(headers: Mapping[str, str], scheme: str) -> str:
        proto = headers.get("x-forwarded-proto") or ("https" if scheme in ("https", "wss") else "http")
        return f"{proto}://{headers.get('host', '')}"

    def check_origin(self, headers: Mapping[str, str], scheme: str, *, required: bool) -> None:
        origin = headers.get("origin")
        if origin is None:
            if required:
                raise ApiError(403, "origin_required", "a browser request with a session cookie must carry Origin")
            return
        if origin.rstrip("/") != self.own_origin(headers, scheme) and origin.rstrip("/") not in self._origins:
            raise ApiError(403, "foreign_origin", f"requests from {origin} are not allowed")

    @staticmethod
    def token(headers: Mapping[str, str], query_token: str | None = None) -> tuple[str, bool]:
        """The token and whether it came from the cookie (then state changes need a matching Origin)."""
        header = headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return header[7:].strip(), False
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        if cookie:
            return cookie, True
        if query_token:
            return query_token, False
        raise ApiError(401, "no_session", "log in first (POST /api/login)")

    def verify(self, token: str) -> Session:
        session = self._verified.get(token)
        if session is None:
            try:
                session = self.tokens.verify(token)
            except TokenError as exc:
                raise ApiError(401, "bad_session", str(exc)) from None
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[token] = session
        elif session.expires < time.time():
            raise ApiError(401, "bad_session", "expired token")
        return session

    async def session(self, headers: Mapping[str, str], scheme: str, *, state_changing: bool = False,
                      query_token: str | None = None) -> Session:
        """The logged-in session asking; ApiError (401, 403, 503) otherwise."""
        token, from_cookie = self.token(headers, query_token)
        self.check_origin(headers, scheme, required=from_cookie and state_changing)
        session = self.verify(token)
        hub = self._link.ready_hub()
        if session.id not in hub.participants:
            fresh = time.time() - session.issued < LOGIN_GRACE
            if not (fresh and await hub.wait_until(lambda: session.id in hub.participants, 5.0)):
                raise ApiError(401, "logged_out", "this session is logged out; log in again")
        self._link.served(session.id)
        return session
