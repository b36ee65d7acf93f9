"""The desktop's ``HasTraits`` copy of the model's exposed state, fed with out messages.

:class:`DesktopModel` is pure: no I/O, no GUI, no threads. Its owner (the
window's timer, the headless loop, a test) hands it snapshots and stream
messages in order with :meth:`DesktopModel.apply`. It keeps the state at
``(epoch, seq)`` in a :class:`traitsweb.state.State` and applies each change a
second time, with the same :func:`traitsweb.state.apply_change`, to its own
traits: the chat's traits are ordinary traits, so the plot data are ordinary
Traits listeners on them, and item changes arrive as item events (one message
appended is one ``messages`` items event).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, MutableMapping
from typing import Any

from traits.api import Any as AnyTrait
from traits.api import Bool, Dict, Event, Float, HasStrictTraits, HasTraits, Instance, Int, List, Str

from traitsweb.state import Outcome, State, apply_change

__all__ = ["DesktopModel", "Outcome"]

_TRAITS = ("messages", "connection_ratings", "participants", "average_rating")


class DesktopModel(HasStrictTraits):
    """The chat's exposed state at ``(epoch, seq)``; every exposed trait is also in :attr:`values`.

    Any other model's state is only in :attr:`values`; :attr:`changed` tells what changed in it.
    """

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
    #: snapshots loaded so far (the first one and every re-snapshot)
    snapshots = Int(0)
    #: trait name -> schema of each trait a client may write, as the last snapshot gave it
    writable = Dict(Str, Dict)
    #: the last snapshot's schema (``{"type": "object", "properties": {...}}``) and page (``"chat"`` or ``""``)
    schema = Dict(Str, AnyTrait)
    page = Str()
    #: fired with each ``trait_change`` message once it is applied (any trait, chat or not)
    changed = Event(Dict)

    _state = Instance(State, ())

    @property
    def values(self) -> dict[str, Any]:
        """The whole exposed state as plain JSON (read-only by convention)."""
        return self._state.values

    def apply(self, message: dict[str, Any]) -> Outcome:
        """Apply one out message (or a snapshot reply) in order; see :class:`Outcome`."""
        outcome = self._state.apply(message)
        if outcome is Outcome.RESET:
            self._reset()
        elif outcome is Outcome.APPLIED:
            if message["type"] == "trait_change" and message["trait"] in _TRAITS:
                # as the state applied it (a truncated list's indices are local: traitsweb.state.localize)
                apply_change(_TraitValues(self, _TRAITS), self._state.applied or message)
            self.seq = self._state.seq
            if message["type"] == "trait_change":
                self.changed = message
        return outcome

    def _reset(self) -> None:
        values = self._state.values
        self.trait_set(
            messages=copy.deepcopy(values.get("messages", [])),
            connection_ratings=copy.deepcopy(values.get("connection_ratings", {})),
            participants=copy.deepcopy(values.get("participants", {})),
            average_rating=float(values.get("average_rating", 0.0)),
            writable=copy.deepcopy(self._state.writable),
            schema=copy.deepcopy(self._state.schema),
            page=self._state.page,
            epoch=self._state.epoch or "",
            seq=self._state.seq,
            ready=True,
        )
        self.snapshots += 1


class _TraitValues(MutableMapping[str, Any]):
    """Some traits of a ``HasTraits`` object as a mapping, so changes apply to the trait containers themselves."""

    def __init__(self, obj: HasTraits, names: tuple[str, ...]) -> None:
        self._obj = obj
        self._names = names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return getattr(self._obj, name)

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self._names:
            raise KeyError(name)
        setattr(self._obj, name, value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("a trait cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
