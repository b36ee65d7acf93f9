"""The model's durable memory: an SQLite journal of out messages plus checkpoints.

Each transaction holds the inputs applied since the last one (a batch: one disk flush), the out
messages they caused (with their ``seq``) and their ``msg_id``s, so a redelivered input is recognised
and skipped.
Start-up loads the last checkpoint and replays the journal after it. A new
database gets a new ``epoch``: consumers then know the history is not the one
they saw. ``owners`` records which broker user logged each session in (what
that user may do for it is the model's access rule).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from traitsweb.state import apply_change

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS processed (msg_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS owners (session TEXT PRIMARY KEY, user TEXT NOT NULL);
"""


class Store:
    """Owns one SQLite database file; use it as a context manager."""

    def __init__(self, path: Path, *, keep_processed: int = 200_000) -> None:
        self.path = path
        self._keep_processed = keep_processed
        self._db: sqlite3.Connection | None = None
        self.since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        #: the bytes of the latest checkpoint (0: none yet)
        self.checkpoint_size = 0
        #: transactions committed by :meth:`commit` since this object was made
        self.commits = 0

    def __enter__(self) -> Store:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the model publishes and acknowledges it, so a power loss cannot
        # roll back what consumers have seen while the epoch stays the same (NORMAL in WAL mode can)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "Store used outside its with-block"
        return self._db

    def load(self) -> tuple[str, int, dict[str, Any]]:
        """``(epoch, seq, state)``: a new epoch for a new database."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if row is None:
            epoch = f"{int(time.time()):x}-{secrets.token_hex(4)}"
            self.db.execute("INSERT INTO meta VALUES ('epoch', ?)", (epoch,))
        else:
            epoch = row[0]
        seq, state = 0, {}
        self.since_checkpoint = 0
        row = self.db.execute("SELECT seq, state FROM checkpoint WHERE id = 1").fetchone()
        if row is not None:
            seq, state = row[0], json.loads(row[1])
            self.checkpoint_size = len(row[1])
        for (body,) in self.db.execute("SELECT body FROM journal WHERE seq > ? ORDER BY seq", (seq,)):
            message = json.loads(body)
            if message["type"] == "trait_change":
                apply_change(state, message)
            seq = message["seq"]
            self.since_checkpoint += 1
        return epoch, seq, state

    def recent(self, limit: int = 64) -> list[tuple[int, str]]:
        """The newest committed ``(seq, body)`` out messages since the checkpoint, oldest first."""
        rows = self.db.execute("SELECT seq, body FROM journal ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [(seq, body) for seq, body in reversed(rows)]

    def seen(self, msg_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM processed WHERE msg_id = ?", (msg_id,)).fetchone() is not None

    def owners(self) -> dict[str, str]:
        """Session id -> the broker user that logged it in."""
        return dict(self.db.execute("SELECT session, user FROM owners").fetchall())

    def commit(
        self, messages: list[tuple[int, str]], msg_ids: Sequence[str] = (), *,
        owners: dict[str, str | None] | None = None,
    ) -> None:
        """Record ``(seq, body)`` out messages, the ``msg_id``s of the inputs that caused them and owner changes,
        atomically (one flush to disk).

        ``owners`` maps session ids to their new owner, or to None for a session that ended. Each ``msg_id``
        is recorded with the last ``seq`` of the transaction.
        """
        assert not isinstance(msg_ids, str), "msg_ids: a list of ids"
        if not messages and not msg_ids and not owners:
            return
        last = messages[-1][0] if messages else 0
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO journal VALUES (?, ?)", messages)
            self.db.executemany("INSERT OR IGNORE INTO processed VALUES (?, ?)", [(m, last) for m in msg_ids])
            for session, user in (owners or {}).items():
                if user is None:
                    self.db.execute("DELETE FROM owners WHERE session = ?", (session,))
                else:
                    self.db.execute("INSERT OR REPLACE INTO owners VALUES (?, ?)", (session, user))
        self.commits += 1
        self.since_checkpoint += len(messages)
        self.bytes_since_checkpoint += sum(len(body) for _, body in messages)

    def checkpoint(self, seq: int, state: dict[str, Any]) -> None:
        """Save the whole state at ``seq`` and drop the journal up to it."""
        text = json.dumps(state, separators=(",", ":"))
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?)", (seq, text))
            self.db.execute("DELETE FROM journal WHERE seq <= ?", (seq,))
            self.db.execute(
                "DELETE FROM processed WHERE rowid <= (SELECT MAX(rowid) FROM processed) - ?",
                (self._keep_processed,),
            )
        self.since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        self.checkpoint_size = len(text)
