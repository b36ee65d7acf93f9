"""Every request body, query and answer of the HTTP API, once: they validate requests and describe /openapi.json."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from traitsweb import protocol

from .errors import ApiError

__all__ = [
    "CLIENT_MSG_ID_MAX",
    "Batch",
    "HistoryQuery",
    "HistoryReply",
    "LoginBody",
    "LoginReply",
    "SendBody",
    "SendReply",
    "SessionReply",
    "StateReply",
    "SocketQuery",
    "StreamQuery",
    "parse",
    "stream_query",
]

#: a client's msg_id is stored prefixed with its session id and a dash (32 + 1 characters)
CLIENT_MSG_ID_MAX = protocol.MSG_ID_MAX - 33


class LoginBody(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str = Field(description=f"1 to {protocol.NAME_MAX} printable characters, after stripping spaces")


class LoginReply(BaseModel):
    session: str = Field(description="the session token (also set as an HttpOnly cookie)")
    id: str
    name: str
    epoch: str
    seq: int


class SessionReply(BaseModel):
    id: str
    name: str


class SendBody(BaseModel):
    """A write of one trait; with ``msg_id``, a retry of the same send is applied once."""

    model_config = ConfigDict(strict=True, extra="forbid")
    trait: str
    value: Any
    msg_id: Annotated[str, Field(pattern=f"^[A-Za-z0-9_-]{{1,{CLIENT_MSG_ID_MAX}}}$")] | None = None


class SendReply(BaseModel):
    msg_id: str


class Batch(BaseModel):
    """Messages after ``since`` (``messages``), or the whole state (``reset``, ``state``)."""

    epoch: str
    seq: int
    messages: list[dict[str, Any]] = []
    reset: bool = False
    state: dict[str, Any] | None = None
    #: with a reset: per list trait holding only its newest items, how many older ones exist
    truncated: dict[str, int] = {}


class StateReply(BaseModel):
    epoch: str
    seq: int
    state: dict[str, Any]
    #: the model's schema, as in its snapshot (docs/protocol.md)
    schema_: dict[str, Any] = Field(alias="schema")
    #: per list trait holding only its newest items, how many older ones exist (older items: /api/history)
    truncated: dict[str, int] = {}


#: the most items one /api/history reply carries
HISTORY_LIMIT = 500


class HistoryQuery(BaseModel):
    """Which older items of a list trait: those before absolute index ``before``, at most ``limit``."""

    trait: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="a list trait of the state")
    before: int = Field(ge=0, lt=10**18, description="an absolute index: items before it (e.g. `truncated[trait]`)")
    limit: int = Field(100, ge=1, le=HISTORY_LIMIT, description=f"at most this many items (1 to {HISTORY_LIMIT})")


class HistoryReply(BaseModel):
    """Items ``start`` .. ``start + len(items)`` (absolute indices) of ``trait`` at ``(epoch, seq)``."""

    epoch: str
    seq: int
    trait: str
    start: int
    items: list[Any]
    #: the absolute index of the oldest item this replica holds: nothing older is available from it
    oldest: int


class StreamQuery(BaseModel):
    """Where a poll, an event stream or a WebSocket starts (frozen: one parsed query serves many requests)."""

    model_config = ConfigDict(frozen=True)
    since: int = Field(0, ge=0, lt=10**18, description="the last seq the client has")
    epoch: str = Field("", max_length=64, description="the epoch of `since`")


class SocketQuery(StreamQuery):
    """A WebSocket's start, and its session token (browsers cannot give a WebSocket a header)."""

    token: str | None = None


def stream_query(poll_timeout: float) -> type[StreamQuery]:
    """:class:`StreamQuery` with ``timeout``, held at most ``poll_timeout`` seconds."""
    timeout = (float, Field(poll_timeout, ge=0, le=poll_timeout, allow_inf_nan=False, description="seconds to hold"))
    return create_model("PollQuery", __base__=StreamQuery, timeout=timeout)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: object, where: str) -> M:
    """``data`` as ``model``, or ``400 bad_request`` saying what pydantic found first."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "bad_request", explain(exc, where)) from None


def explain(exc: ValidationError, where: str) -> str:
    first = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in (where, *first["loc"]) if part != "")
    return f"{loc}: {first['msg']}"
