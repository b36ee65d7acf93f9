"""Who may act for which session, decided from the broker-validated ``user-id`` of each frame.

RabbitMQ refuses a SEND whose ``user-id`` header is not the connection's own
login, so the header tells the model which service sent a frame. A gateway
user acts for any session logged in by a gateway (it checks signed browser
tokens); a desktop user acts only for the sessions it logged in itself.
A desktop user may hold at most ``desktop_sessions_max`` live sessions.
Every other sender, and a frame without ``user-id``, is refused. Refusals are
:class:`~traitsweb.protocol.ProtocolError` s: logged, acknowledged, and
nothing changes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from traitsweb import protocol

__all__ = ["Access"]


class Access:
    def __init__(self, *, gateways: Collection[str], desktops: Collection[str], owners: dict[str, str],
                 desktop_sessions_max: int = 32) -> None:
        self._gateways = frozenset(gateways)
        self._desktops = frozenset(desktops)
        self._desktop_sessions_max = desktop_sessions_max
        #: session id -> the user that logged it in (sessions from before owners were kept have none)
        self.owners = owners

    def sender(self, headers: Mapping[str, Any]) -> str:
        """The frame's sending user, if it is one of the model's clients."""
        user = headers.get(protocol.USER_ID)
        if user in self._gateways or user in self._desktops:
            return str(user)
        who = "without user-id" if user is None else f"from user {str(user)[:64]!r}"
        raise protocol.ProtocolError("forbidden", f"a frame {who} is not from a client of the model")

    def is_desktop(self, user: str | None) -> bool:
        return user in self._desktops

    def check(self, user: str, session: str) -> None:
        """Refuse unless ``user`` may act for the existing (or gone) ``session``."""
        owner = self.owners.get(session)
        if user in self._gateways and owner not in self._desktops:
            return
        if user in self._desktops and owner == user:
            return
        raise protocol.ProtocolError("forbidden", f"{user} may not act for session {session[:8]}…")

    def check_login(self, user: str, session: str, exists: bool) -> None:
        """Anyone may create a session, a desktop user up to its cap of live ones; logging in again is its
        owner's."""
        if exists:
            self.check(user, session)
        elif user in self._desktops:
            held = sum(owner == user for owner in self.owners.values())
            if held >= self._desktop_sessions_max:
                raise protocol.ProtocolError(
                    "too_many_sessions", f"{user} holds {held} live sessions, at most {self._desktop_sessions_max}")
