"""Operations: liveness, readiness and Prometheus metrics of this replica."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..replica import Replica

__all__ = ["healthz", "metrics", "readyz"]

ReplicaDep = Annotated[Replica, Depends(Replica.of_request)]


async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


async def readyz(replica: ReplicaDep) -> JSONResponse:
    """Subscribed to the broker and holding the model's state."""
    link = replica.link
    body: dict[str, str | int | None] = {"status": "ready" if link.ready else "not_ready"}
    if link.hub.ready:
        body |= {"epoch": link.hub.state.epoch, "seq": link.hub.state.seq}
    return JSONResponse(body, status_code=200 if link.ready else 503)


async def metrics(replica: ReplicaDep) -> Response:
    """Prometheus metrics of this replica."""
    gauges, link = replica.metrics, replica.link
    gauges.sessions.set(len(link.hub.participants))
    gauges.reconnects.set(link.client.reconnects)
    gauges.from_journal.set(link.hub.from_journal)
    gauges.polls_held.set(sum(link.holding.values()))
    return Response(generate_latest(gauges.registry), media_type=CONTENT_TYPE_LATEST)
