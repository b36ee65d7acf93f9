"""One replica's objects for the life of the app: the broker link and its hub, who is asking, limits, metrics.

Built in the app's lifespan and reached from every route as ``scope["state"]["replica"]``
(``request.state.replica``), so nothing is looked up through a mutable global.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from traitsweb import protocol
from traitsweb.broker import BrokerUnavailable

from .auth import Auth
from .config import GatewaySettings
from .errors import ApiError
from .hub import Hub
from .limits import PollThrottle, RateLimiter, Throttle
from .link import BrokerLink
from .metrics import Metrics
from .models import StreamQuery, stream_query
from .sessions import SessionCaps

__all__ = ["Replica"]


@dataclass
class Replica:
    settings: GatewaySettings
    link: BrokerLink
    auth: Auth
    metrics: Metrics
    login_limit: RateLimiter = field(init=False)
    send_limit: RateLimiter = field(init=False)
    #: polls and stream openings answered at once (each builds a reply), and /api/state reads, per session
    poll_limit: PollThrottle = field(init=False)
    state_limit: Throttle = field(init=False)
    #: sessions per client address (and IPv6 /64) and in all
    session_caps: SessionCaps = field(init=False)
    #: the long-poll's query, with this replica's longest hold
    poll_query: type[StreamQuery] = field(init=False)

    def __post_init__(self) -> None:
        self.login_limit = RateLimiter(self.settings.login_rate, self.settings.login_burst)
        self.send_limit = RateLimiter(self.settings.send_rate, self.settings.send_burst)
        self.poll_limit = PollThrottle(self.settings.poll_rate, self.settings.poll_burst)
        self.state_limit = Throttle(self.settings.state_rate, self.settings.state_burst, what="state reads")
        self.session_caps = SessionCaps(per_address=self.settings.sessions_per_address,
                                        total=self.settings.max_sessions)
        self.poll_query = stream_query(self.settings.poll_timeout)

    @staticmethod
    def of(scope: Scope) -> Replica:
        """The replica serving this request (put in the lifespan state by ``create_app``)."""
        replica: Replica = scope["state"]["replica"]
        return replica

    @staticmethod
    def of_request(request: Request) -> Replica:
        """:meth:`of`, as a FastAPI dependency."""
        return Replica.of(request.scope)

    @property
    def hub(self) -> Hub:
        return self.link.hub

    async def send(self, destination: str, message: dict[str, Any]) -> None:
        """Hand ``message`` to the broker and wait for its receipt; ``503 broker_unavailable`` if it fails."""
        started = time.perf_counter()
        future = self.link.client.send_async(destination, protocol.encode(message), headers=protocol.SEND_HEADERS)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.settings.send_timeout)
        except (BrokerUnavailable, TimeoutError) as exc:
            why = str(exc) if isinstance(exc, BrokerUnavailable) else "no receipt from the broker in time"
            raise ApiError(503, "broker_unavailable", f"the message broker is unavailable: {why}",
                           headers={"Retry-After": "2"}) from None
        self.metrics.send_latency.observe(time.perf_counter() - started)
