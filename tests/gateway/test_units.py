"""Pieces of the gateway that need no stack."""

from __future__ import annotations

import uuid

from services.gateway.link import TOUCH_CHUNK, touch_chunks
from traitsweb import protocol


def test_touch_reports_of_many_sessions_fit_the_models_body_limit() -> None:
    ids = sorted(uuid.uuid4().hex for _ in range(10_000))  # one replica's idle-capacity target
    chunks = touch_chunks(ids)
    assert [i for chunk in chunks for i in chunk] == ids
    assert max(len(c) for c in chunks) == TOUCH_CHUNK
    for chunk in chunks:
        body = protocol.encode({"type": "touch", "ids": chunk, "replica": "gateway-1"})
        assert protocol.decode_control(body).ids == chunk  # the model would accept it (raises if too large)
    assert touch_chunks([]) == []
