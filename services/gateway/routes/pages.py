"""The pages: the model's own page (``SharedModel.page``, e.g. the chat) or the one generated from its
schema (scripts and styles are served from ``/static``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends
from fastapi.responses import FileResponse

from ..replica import Replica

__all__ = ["STATIC", "generated", "index"]

STATIC = Path(__file__).parent.parent / "static"
#: the pages made for a model, by ``SharedModel.page``; any other model gets the generated page
PAGES = {"chat": "index.html"}
GENERATED = "model.html"

ReplicaDep = Annotated[Replica, Depends(Replica.of_request)]


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


async def index(replica: ReplicaDep) -> FileResponse:
    """The model's own page, else the page generated from its schema (``503 not_ready`` before the state)."""
    return _page(PAGES.get(replica.link.ready_hub().state.page, GENERATED))


async def generated() -> FileResponse:
    """The page generated from the schema, whatever page the model has of its own."""
    return _page(GENERATED)
