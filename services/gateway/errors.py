"""Every error the HTTP API gives is JSON ``{"error": code, "detail": text}`` with its status."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "ErrorBody", "body", "install", "response", "responses"]


class ErrorBody(BaseModel):
    """Every error: a code to branch on and a sentence for people."""

    error: str
    detail: str


#: what each status means, for the API's description
MEANING = {400: "Bad query parameters or body", 401: "No session, a bad one, or logged out",
           403: "Foreign Origin, missing Origin with a cookie, or a trait clients may not set",
           404: "No such list trait",
           413: "Body over the limit", 422: "A name or value the rules refuse",
           429: "Too many log-ins or sends, or too many open polls for this session",
           503: "The model's state is not loaded, or the broker is unavailable"}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI's ``responses=`` for these error statuses."""
    return {status: {"model": ErrorBody, "description": MEANING[status]} for status in statuses}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def _json(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def response(exc: ApiError) -> JSONResponse:
    """The response for ``exc`` (an ASGI app: plain-ASGI routes call it directly)."""
    return _json(exc.status, exc.code, exc.detail, exc.headers)


def body(code: str, detail: str) -> bytes:
    return json.dumps({"error": code, "detail": detail}, separators=(",", ":")).encode()


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return _json(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return _json(400, "bad_request", f"{where}: {first.get('msg')}")  # FastAPI's own parameters


def install(app: object) -> None:
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[attr-defined]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[attr-defined]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[attr-defined]
