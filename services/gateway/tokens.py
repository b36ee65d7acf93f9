"""Signed session tokens: any replica verifies them with the shared secret, no shared memory.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))``;
the payload holds the session id (128 random bits as 32 hex digits), the name
and the expiry. The session id travels to the model and to other clients; the
token never leaves the browser's cookie (or its Authorization header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

__all__ = ["Session", "TokenError", "Tokens"]


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    issued: float
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    def __init__(self, secret: bytes, *, ttl: float) -> None:
        self._secret = secret
        self._ttl = ttl

    def issue(self, name: str) -> tuple[str, Session]:
        now = time.time()
        session = Session(id=secrets.token_hex(16), name=name, issued=now, expires=now + self._ttl)
        payload = _b64(json.dumps({"sid": session.id, "name": name, "iat": now, "exp": session.expires}).encode())
        return f"{payload}.{self._sign(payload)}", session

    def verify(self, token: str) -> Session:
        payload, _, signature = token.partition(".")
        if not payload or not signature or len(token) > 1024:
            raise TokenError("malformed token")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise TokenError("bad signature")
        try:
            data = json.loads(_unb64(payload))
            session = Session(id=data["sid"], name=data["name"], issued=data["iat"], expires=data["exp"])
        except (ValueError, KeyError, TypeError):
            raise TokenError("malformed token") from None
        if session.expires < time.time():
            raise TokenError("expired token")
        return session

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())
