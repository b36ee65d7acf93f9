"""Request bodies: read from the ASGI ``receive`` up to a size limit, parsed as UTF-8 JSON, clear errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import Receive

from .errors import ApiError

__all__ = ["read_json"]


async def read_json(receive: Receive, headers: Mapping[str, str], limit: int) -> Any:
    """The body as JSON: ``413 too_large`` over ``limit`` bytes (declared or sent), ``400 bad_json``."""
    length = headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise ApiError(413, "too_large", f"request bodies are limited to {limit} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ApiError(400, "bad_request", "the client went away before sending the body")
        body += message.get("body", b"")
        if len(body) > limit:
            raise ApiError(413, "too_large", f"request bodies are limited to {limit} bytes")
        if not message.get("more_body", False):
            break
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", "the body is not valid UTF-8 JSON") from None
