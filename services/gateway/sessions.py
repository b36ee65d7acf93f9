"""How many sessions one client address may hold, and how many the model holds in all.

The global count is the model's ``participants`` as this replica mirrors them,
so it is the same on every replica. Client addresses are not in the model: each
replica remembers which sessions it logged in for which address (an IPv4
address, or an IPv6 /64, which one host usually holds whole), and a session
stops counting once it has left ``participants`` (logged out, or idle past the
model's timeout). Behind ``n`` replicas an address may so hold up to ``n``
times the per-address cap (nginx's ``limit_conn`` bounds connections, not sessions).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping

from .errors import ApiError

__all__ = ["SessionCaps", "address_key"]

#: a session just issued counts although the model has not confirmed it yet (see auth.LOGIN_GRACE)
CONFIRM_GRACE = 15.0


def address_key(address: str) -> str:
    """The unit a cap counts: an IPv4 address, an IPv6 /64 (an IPv4-mapped IPv6 address as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class SessionCaps:
    def __init__(self, *, per_address: int, total: int, clock: Callable[[], float] = time.time) -> None:
        self._per_address = per_address
        self._total = total
        self._clock = clock
        #: address key -> {session id: when issued}, for sessions this replica logged in
        self._issued: dict[str, dict[str, float]] = {}
        self._count = 0

    def admit(self, address: str, session: str, participants: Mapping[str, object]) -> None:
        """Count ``session`` for ``address``; ``503 too_many_sessions`` when the model holds the most it
        may, ``429 too_many_sessions`` when the address does."""
        if len(participants) >= self._total:
            raise ApiError(503, "too_many_sessions", "the server holds as many sessions as it may; try later",
                           headers={"Retry-After": "60"})
        now = self._clock()
        if self._count > 2 * self._total:
            self._sweep(participants, now)
        key = address_key(address)
        live = self._live(self._issued.get(key, {}), participants, now)
        if len(live) >= self._per_address:
            self._store(key, live)
            raise ApiError(429, "too_many_sessions", f"at most {self._per_address} sessions per client address; "
                           "log out of one, or wait until one expires", headers={"Retry-After": "60"})
        live[session] = now
        self._store(key, live)

    @staticmethod
    def _live(issued: dict[str, float], participants: Mapping[str, object], now: float) -> dict[str, float]:
        return {s: t for s, t in issued.items() if s in participants or now - t < CONFIRM_GRACE}

    def _store(self, key: str, live: dict[str, float]) -> None:
        self._count += len(live) - len(self._issued.get(key, {}))
        if live:
            self._issued[key] = live
        else:
            self._issued.pop(key, None)

    def _sweep(self, participants: Mapping[str, object], now: float) -> None:
        for key in list(self._issued):
            self._store(key, self._live(self._issued[key], participants, now))
