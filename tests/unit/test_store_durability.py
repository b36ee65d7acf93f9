"""What the store promises beyond a process crash: commits survive a power loss; owners survive restarts."""

from __future__ import annotations

from pathlib import Path

from services.model.store import Store


def test_commits_are_synced_to_disk(tmp_path: Path) -> None:
    """synchronous=FULL (2): NORMAL (1) in WAL mode can lose acknowledged commits on a power loss."""
    with Store(tmp_path / "m.sqlite3") as store:
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_session_owners_are_committed_with_the_messages(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with Store(path) as store:
        store.load()
        store.commit([(1, '{"type":"trait_change","seq":1}')], ["m1"], owners={"a" * 32: "desktop", "b" * 32: "gateway"})
        store.commit([], ["m2"], owners={"b" * 32: None})
    with Store(path) as store:
        assert store.owners() == {"a" * 32: "desktop"}
