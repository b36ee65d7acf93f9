"""A ``HasTraits`` mirror of the model's exposed state, fed with out messages.

:class:`StateMirror` is pure: no I/O, no GUI, no threads. Its owner (the
window's timer, the headless loop, a test) hands it snapshots and stream
messages in order with :meth:`StateMirror.apply`; it keeps them at
``(epoch, seq)`` with :class:`traitsweb.state.Mirror` and says when a
snapshot is needed. The chat's traits it mirrors are ordinary traits, so the
plot data are ordinary Traits listeners on it; item changes arrive as item
events (one message appended is one ``messages`` items event).
"""

from __future__ import annotations

import copy
from typing import Any

from traits.api import Bool, Dict, Float, HasStrictTraits, Instance, Int, List, Str

from traitsweb.state import Mirror, Outcome

__all__ = ["StateMirror", "Outcome"]

_MIRRORED = ("messages", "connection_ratings", "participants", "average_rating")


class StateMirror(HasStrictTraits):
    """The chat's exposed state at ``(epoch, seq)``; other exposed traits stay in :attr:`state`."""

    #: ``{"user", "text", "time"}`` dicts, oldest first
    messages = List(Dict)
    #: session id -> rating 1..5
    connection_ratings = Dict(Str, Int)
    #: session id -> display name
    participants = Dict(Str, Str)
    average_rating = Float(0.0)

    epoch = Str()
    seq = Int(-1)
    #: a snapshot has been loaded
    ready = Bool(False)
    #: the stream went out of step; a snapshot is needed
    stale = Bool(False)
    #: snapshots loaded so far (the first one and every re-snapshot)
    snapshots = Int(0)
    #: trait name -> schema of each trait a client may write, as the last snapshot gave it
    writable = Dict(Str, Dict)

    _mirror = Instance(Mirror, ())

    @property
    def state(self) -> dict[str, Any]:
        """The whole exposed state as plain JSON (read-only by convention)."""
        return self._mirror.state

    def apply(self, message: dict[str, Any]) -> Outcome:
        """Apply one out message (or a snapshot reply) in order; see :class:`Outcome`."""
        outcome = self._mirror.feed(message)
        if outcome is Outcome.RESET:
            self._reset()
        elif outcome is Outcome.APPLIED:
            if message["type"] == "trait_change" and message["trait"] in _MIRRORED:
                self._change(message)
            self.seq = self._mirror.seq
        elif outcome is Outcome.GAP and self.ready:
            self.stale = True
        return outcome

    def _reset(self) -> None:
        state = self._mirror.state
        self.trait_set(
            messages=copy.deepcopy(state.get("messages", [])),
            connection_ratings=dict(state.get("connection_ratings", {})),
            participants=dict(state.get("participants", {})),
            average_rating=float(state.get("average_rating", 0.0)),
            writable=copy.deepcopy(self._mirror.writable),
            epoch=self._mirror.epoch or "",
            seq=self._mirror.seq,
            stale=False,
            ready=True,
        )
        self.snapshots += 1

    def _change(self, message: dict[str, Any]) -> None:
        """The same item change on our trait, so listeners see an items event, not a new list."""
        trait, op = message["trait"], message["op"]
        if op == "set":
            setattr(self, trait, copy.deepcopy(message["value"]))
        elif op == "list":
            index = message["index"]
            getattr(self, trait)[index : index + message["removed"]] = copy.deepcopy(message["added"])
        elif op == "dict":
            items = getattr(self, trait)
            for key in message.get("removed", ()):
                items.pop(key, None)
            items.update(message.get("set", {}))
