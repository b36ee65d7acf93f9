"""Model-driven readers (no stack): a reading is counted once per client, by its ``samples`` and ``stamp``,
and one a client did not see between the lowest and highest any client saw is lost."""

from __future__ import annotations

import time

from bench.clients import Login, ReaderJob, _consume, _Reader
from bench.hist import Latency
from bench.model_driven import lost


def _tick(seq: int, samples: int, stamp: float) -> dict[str, object]:
    return {"epoch": "e", "seq": seq + 1, "messages": [
        {"type": "trait_change", "seq": seq, "trait": "readings", "op": "list", "index": 200, "removed": 0, "added": [1.0]},
        {"type": "trait_change", "seq": seq, "trait": "samples", "op": "set", "value": samples},
        {"type": "trait_change", "seq": seq + 1, "trait": "stamp", "op": "set", "value": stamp},
    ]}


def test_a_stamped_reading_is_recorded_once_inside_the_window() -> None:
    now = time.time()
    job = ReaderJob([], "poll", "", 10**9, now - 10, 0.0, "o", kind="stamp", window_end=now + 10)
    reader, latency = _Reader(Login("b", "t", "e", 0)), Latency(warmup_end=job.warmup_end)
    _consume(reader, job, latency, _tick(1, 7, now - 0.05), 0.0)
    _consume(reader, job, latency, _tick(1, 7, now - 0.05), 0.0)  # a repeat (a resumed stream)
    _consume(reader, job, latency, _tick(3, 8, now - 20), 0.0)  # stamped in the warm-up: not counted
    assert reader.received == {7} and latency.count == 1
    assert 40 <= latency.summary()["p50_ms"] < 10_000
    assert reader.login.seq == 4 and not reader.finished
    _consume(reader, job, latency, _tick(5, 9, now + 11), 0.0)  # past the window: the reader is done
    assert reader.finished and reader.received == {7}


def test_readings_a_client_missed_are_lost() -> None:
    assert lost([(10, 19, 10), (10, 19, 10)]) == (0, 10)
    assert lost([(10, 19, 10), (11, 19, 8), None]) == (2 + 10, 10)
    assert lost([None]) == (0, 0)
