"""The chat page (its scripts and styles are served from ``/static``)."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

__all__ = ["STATIC", "index"]

STATIC = Path(__file__).parent.parent / "static"


async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
