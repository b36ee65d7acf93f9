"""/openapi.json entries for the plain-ASGI routes, derived from their models and docstrings.

FastAPI describes the routes it serves; the stream routes are Starlette ``Route``\\ s it cannot see,
so each is declared once as an :class:`Operation` next to its endpoint.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .errors import MEANING, ErrorBody

__all__ = ["Operation"]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    endpoint: object
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    reply: type[BaseModel] | None = None
    status: int = 200
    media_type: str = "application/json"
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ("model",)

    def describe(self) -> dict[str, Any]:
        """The OpenAPI operation object."""
        name = self.path.rsplit("/", 1)[-1]
        reply: dict[str, Any] = {"description": (inspect.getdoc(self.reply) or "OK").splitlines()[0]}
        reply["content"] = {self.media_type: {"schema": self.reply.model_json_schema()} if self.reply else {}}
        operation: dict[str, Any] = {
            "tags": list(self.tags),
            "summary": name.capitalize(),
            "description": inspect.getdoc(self.endpoint) or "",
            "operationId": f"{name}_{self.path.strip('/').replace('/', '_')}_{self.method.lower()}",
            "responses": {str(self.status): reply} | {
                str(status): {"description": MEANING[status],
                              "content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}
                for status in self.errors
            },
        }
        if self.query is not None:
            schema = self.query.model_json_schema()
            operation["parameters"] = [
                {"name": field, "in": "query", "required": field in schema.get("required", ()),
                 "description": spec.pop("description", ""), "schema": spec}
                for field, spec in schema["properties"].items()
            ]
        if self.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": self.body.model_json_schema()}}}
        return operation
