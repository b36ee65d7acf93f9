"""Older items of a long list, beyond the latest part a bounded state carries (``GET /api/history``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from traitsweb import protocol

from ..errors import ApiError
from ..models import HistoryQuery, HistoryReply, parse
from ..replica import Replica

__all__ = ["OPENAPI", "HistoryReply", "history"]

ReplicaDep = Annotated[Replica, Depends(Replica.of_request)]


async def history(request: Request, replica: ReplicaDep) -> Response:
    """Items of list `trait` before absolute index `before` (at most `limit`), from this replica's state.

    A state or reset whose list is truncated (`truncated: {trait: n}`) holds items from index n on; this
    answers with the older ones the replica holds (`start` is the first one's index; `oldest` is the oldest
    it holds: items before it are not available here). Rate-limited with `/api/state` reads.
    """
    session = await replica.auth.session(request.headers, request.url.scheme)
    replica.state_limit.check(session.id)
    query = parse(HistoryQuery, dict(request.query_params), "query")
    hub = replica.link.ready_hub()
    if not isinstance(hub.state.values.get(query.trait), list):
        raise ApiError(404, "unknown_trait", f"{query.trait!r} is not a list trait of the state")
    start, items = hub.history(query.trait, query.before, query.limit)
    reply = {"epoch": hub.state.epoch, "seq": hub.state.seq, "trait": query.trait, "start": start,
             "items": items, "oldest": hub.state.offsets.get(query.trait, 0)}
    return Response(protocol.encode(reply), media_type="application/json")


def _parameters() -> list[dict[str, Any]]:
    schema = HistoryQuery.model_json_schema()
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             "description": prop.get("description", "")} for name, prop in schema["properties"].items()]


#: the query, for /openapi.json (the route parses it itself, for its 400 errors)
OPENAPI: dict[str, Any] = {"parameters": _parameters()}
