"""Who may act for which session, decided from the broker-validated ``user-id`` of each frame.

RabbitMQ refuses a SEND whose ``user-id`` header is not the connection's own
login, so the header tells the model which service sent a frame. A gateway
user acts for any session logged in by a gateway (it checks signed browser
tokens); a desktop user acts only for the sessions it logged in itself.
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
    def __init__(self, *, gateways: Collection[str], desktops: Collection[str], owners: dict[str, str]) -> None:
        self._gateways = frozenset(gateways)
        self._desktops = frozenset(desktops)
        #: session id -> the user that logged it in (sessions from before owners were kept have none)
        self.owners = owners

    def sender(self, headers: Mapping[str, Any]) -> str:
        """The frame's sending user, if it is one of the model's clients."""
        user = headers.get(protocol.USER_ID)
        if user in self._gateways or user in self._desktops:
            return str(user)
        who = "without user-id" if user is None else f"from user {str(user)[:64]!r}"
        raise protocol.ProtocolError("forbidden", f"a frame {who} is not from a client of the model")

    def check(self, user: str, session: str) -> None:
        """Refuse unless ``user`` may act for the existing (or gone) ``session``."""
        owner = self.owners.get(session)
        if user in self._gateways and owner not in self._desktops:
            return
        if user in self._desktops and owner == user:
            return
        raise protocol.ProtocolError("forbidden", f"{user} may not act for session {session[:8]}…")

    def check_login(self, user: str, session: str, exists: bool) -> None:
        """Anyone may create a session; logging in again is its owner's."""
        if exists:
            self.check(user, session)
