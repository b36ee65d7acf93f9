"""Every out frame of one change but the last says ``more``, so consumers can wake once per change."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

from tests.inproc import in_process
from traitsweb import protocol
from traitsweb.broker import connect
from traitsweb.settings import parse_broker_url


def test_the_frames_of_one_change_carry_more_but_the_last(tmp_path: Path) -> None:
    with in_process(tmp_path) as app:
        frames: queue.Queue[tuple[dict[str, Any], bool]] = queue.Queue()
        with connect(parse_broker_url(app.broker_url), name="watcher") as watcher:
            watcher.subscribe(protocol.OUT, lambda f: frames.put(
                (protocol.decode_out(f.body), f.headers.get(protocol.MORE) == "true")))
            watcher.connected.wait(5)
            origin = {"Origin": app.url}
            login = app.http.post("/api/login", json={"name": "Ada"}, headers=origin).json()
            auth = {**origin, "Authorization": f"Bearer {login['session']}"}
            participants, more = frames.get(timeout=5)
            assert participants["trait"] == "participants" and not more  # a login: one frame, the last of its change
            # a rating changes the ratings and their average: one change of two frames
            assert app.http.post("/api/send", json={"trait": "rating_selector", "value": 4},
                                 headers=auth).status_code == 202
            seen = [frames.get(timeout=5)]
            while seen[-1][1]:
                seen.append(frames.get(timeout=5))
            assert sorted(m["trait"] for m, _ in seen) == ["average_rating", "connection_ratings"]
            assert [more for _, more in seen] == [True, False]
            assert app.http.post("/api/send", json={"trait": "entry_field", "value": "hi"},
                                 headers=auth).status_code == 202
            message, more = frames.get(timeout=5)
            assert message["trait"] == "messages" and not more  # one frame: the last of its change
