from __future__ import annotations

import json
from pathlib import Path

from services.model.store import Store
from traitsweb import protocol


def msg(epoch: str, seq: int, **fields: object) -> tuple[int, str]:
    return seq, protocol.encode(protocol.out_message("trait_change", epoch, seq, **fields))


def test_new_database_gets_a_new_epoch(tmp_path: Path) -> None:
    with Store(tmp_path / "a.sqlite3") as a, Store(tmp_path / "b.sqlite3") as b:
        epoch_a, seq, state = a.load()
        epoch_b, _, _ = b.load()
    assert epoch_a != epoch_b and (seq, state) == (0, {})
    with Store(tmp_path / "a.sqlite3") as again:
        assert again.load()[0] == epoch_a


def test_journal_and_checkpoint_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with Store(path) as store:
        epoch, _, _ = store.load()
        store.commit([msg(epoch, 1, trait="n", op="set", value=1)], ["input-1"])
        store.checkpoint(1, {"n": 1, "items": []})
        store.commit(
            [msg(epoch, 2, trait="items", op="list", index=0, removed=0, added=["x"]),
             (3, protocol.encode(protocol.out_message("error", epoch, 3, to="s")))],
            ["input-2"],
        )
    with Store(path) as store:
        assert store.load() == (epoch, 3, {"n": 1, "items": ["x"]})
        assert store.seen("input-1") and store.seen("input-2") and not store.seen("input-3")
        rows = store.db.execute("SELECT seq FROM journal ORDER BY seq").fetchall()
        assert rows == [(2,), (3,)]  # the checkpoint dropped what it covers
        assert json.loads(store.db.execute("SELECT state FROM checkpoint").fetchone()[0]) == {"n": 1, "items": []}
