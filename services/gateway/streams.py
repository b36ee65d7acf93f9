"""A stream (SSE, WebSocket) lives no longer than the token that opened it.

A token is checked once, when the stream opens; without a deadline a stream
opened a second before expiry would stay open for as long as the client likes.
The stream holds each wait at most until the token expires, then ends: SSE with
an ``error`` event ``expired``, a WebSocket with close code 4401 ``expired``.
"""

from __future__ import annotations

import time

from . import errors
from .tokens import Session

__all__ = ["EXPIRED_CLOSE", "EXPIRED_EVENT", "expired", "hold"]

_DETAIL = "the session token has expired; log in again"
EXPIRED_EVENT = b"event: error\ndata: %s\n\n" % errors.body("expired", _DETAIL)
EXPIRED_CLOSE = (4401, "expired")


def hold(session: Session, keepalive: float) -> float:
    """How long the next wait may last: ``keepalive``, or less when the token expires sooner."""
    return max(0.0, min(keepalive, session.expires - time.time()))


def expired(session: Session) -> bool:
    return session.expires <= time.time()
