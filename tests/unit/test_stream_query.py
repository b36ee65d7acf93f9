"""The hot routes' query parsing: a short query string is validated once per model, refusals every time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.gateway.errors import ApiError
from services.gateway.models import StreamQuery, stream_query
from services.gateway.routes.stream import QUERY_CACHED_MAX, _query


def scope(query: bytes) -> dict[str, object]:
    return {"type": "http", "query_string": query}


def test_a_repeated_query_string_is_validated_once() -> None:
    poll = stream_query(25.0)
    first = _query(poll, scope(b"since=7&epoch=e1&timeout=25"))
    again = _query(poll, scope(b"since=7&epoch=e1&timeout=25"))
    assert again is first
    assert (first.since, first.epoch, first.timeout) == (7, "e1", 25.0)  # type: ignore[attr-defined]


def test_a_long_query_string_is_validated_and_not_kept() -> None:
    long = b"since=3&epoch=e&pad=" + b"x" * QUERY_CACHED_MAX
    first, again = _query(StreamQuery, scope(long)), _query(StreamQuery, scope(long))
    assert first == again and first is not again and first.since == 3


@pytest.mark.parametrize("query", [b"since=-1", b"since=x", b"epoch=" + b"e" * 65])
def test_a_refused_query_is_refused_every_time(query: bytes) -> None:
    for _ in range(2):
        with pytest.raises(ApiError) as refused:
            _query(StreamQuery, scope(query))
        assert (refused.value.status, refused.value.code) == (400, "bad_request")
        assert refused.value.detail.startswith("query.")


def test_each_model_validates_the_string_itself() -> None:
    """A replica's poll query (its own longest hold) never answers with another model's verdict."""
    assert _query(stream_query(30.0), scope(b"timeout=30")).timeout == 30.0  # type: ignore[attr-defined]
    with pytest.raises(ApiError):
        _query(stream_query(10.0), scope(b"timeout=30"))


def test_a_shared_query_cannot_be_changed() -> None:
    query = _query(StreamQuery, scope(b"since=1"))
    with pytest.raises(ValidationError):
        query.since = 2  # type: ignore[misc]
    assert _query(StreamQuery, scope(b"since=1")).since == 1
