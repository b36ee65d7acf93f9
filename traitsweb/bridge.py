"""The generic bridge between a ``HasTraits`` model and traitsweb messages.

A shared model says what it exposes with trait metadata and nothing else:

* ``exposed=True`` on a model trait: its value is part of the shared state and
  every change to it is published (item changes for lists, dicts and sets);
* ``client=True`` on a trait of the model's session handler: clients may
  write it; Traits' own validation decides which values are accepted.

The model itself stays pure (no I/O); :class:`Bridge` observes it, turns its
trait events into ``trait_change`` dicts for the caller to publish, and turns
client writes into ``setattr`` on the session's handler. Any ``SharedModel``
works: the protocol, the gateway and the desktop never name a trait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from traits.api import BaseStr, Dict, HasTraits, Instance, List, Set, Str, TraitError
from traits.ctrait import CTrait
from traits.observation.api import (
    DictChangeEvent,
    ListChangeEvent,
    SetChangeEvent,
    TraitChangeEvent,
)

from .schema import model_schema

__all__ = ["BoundedStr", "Bridge", "BridgeError", "SessionHandler", "SharedModel", "encode_value"]

log = logging.getLogger(__name__)

Change = dict[str, Any]


class BoundedStr(BaseStr):
    """A ``str`` of ``minlen`` to ``maxlen`` characters; unlike ``String`` it never coerces."""

    def __init__(self, default_value: str = "", *, minlen: int = 0, maxlen: int = 1 << 20, **metadata: Any):
        self.minlen = minlen
        self.maxlen = maxlen
        super().__init__(default_value, **metadata)

    def validate(self, object: Any, name: str, value: Any) -> str:
        if isinstance(value, str) and self.minlen <= len(value) <= self.maxlen:
            return value
        self.error(object, name, value)
        raise AssertionError("TraitType.error raises")  # its stub does not say so

    def info(self) -> str:
        return f"a string of {self.minlen} to {self.maxlen} characters"


class SharedModel(HasTraits):
    """Base class of a model shared through traitsweb.

    ``participants`` maps each logged-in session id to its display name.
    Subclasses set ``handler_class`` and may extend :meth:`login` and
    :meth:`logout` (e.g. to forget a participant's rating).
    """

    participants = Dict(Str, Str, exposed=True)
    handler_class: ClassVar[type[SessionHandler]]
    #: a page of the gateway's own made for this model (``"chat"``), or ``""``: the gateway then serves
    #: a page generated from the snapshot's schema
    page: ClassVar[str] = ""

    def login(self, session: str, name: str) -> None:
        self.participants[session] = name

    def logout(self, session: str) -> None:
        self.participants.pop(session, None)


class SessionHandler(HasTraits):
    """One per logged-in client; its ``client=True`` traits are what the client may set."""

    model = Instance(SharedModel)
    session = Str()


class BridgeError(Exception):
    """A client write that was refused; ``code`` names why (see docs/protocol.md)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def encode_value(value: Any) -> Any:
    """A trait value as JSON-ready data (HasTraits objects become dicts of their traits)."""
    if isinstance(value, HasTraits):
        return {name: encode_value(getattr(value, name)) for name in value.copyable_trait_names()}
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(encode_value(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    return value


def _decoder(trait_type: Any) -> Callable[[Any], Any]:
    """How to turn JSON back into values of ``trait_type`` (for restoring state)."""
    if isinstance(trait_type, Instance) and isinstance(trait_type.klass, type) and issubclass(
        trait_type.klass, HasTraits
    ):
        klass = trait_type.klass
        return lambda data: klass(**data)
    if isinstance(trait_type, List):
        item = _decoder(trait_type.item_trait.handler)
        return lambda data: [item(v) for v in data]
    if isinstance(trait_type, Set):
        item = _decoder(trait_type.item_trait.handler)
        return lambda data: {item(v) for v in data}
    if isinstance(trait_type, Dict):
        value = _decoder(trait_type.value_trait.handler)
        return lambda data: {k: value(v) for k, v in data.items()}
    return lambda data: data


class Bridge:
    """Observes a :class:`SharedModel` and drives it on behalf of clients.

    ``emit`` is called synchronously with each ``trait_change`` dict (no
    ``epoch``/``seq``: the caller numbers them). :attr:`schema` describes the
    exposed and writable traits for the snapshot; :attr:`writable` maps each
    client-writable trait to its own schema.
    """

    def __init__(self, model: SharedModel, emit: Callable[[Change], None]) -> None:
        self.model = model
        self._emit = emit
        self._muted = False
        self.handlers: dict[str, SessionHandler] = {}
        self.exposed = sorted(model.trait_names(exposed=True))
        self._decoders = {n: _decoder(model.trait(n).handler) for n in self.exposed}
        client_traits: dict[str, CTrait] = type(model).handler_class.class_traits(client=True)
        self.schema = model_schema({n: model.trait(n) for n in self.exposed}, client_traits)
        self.writable = {name: self.schema["properties"][name] for name in client_traits}
        for name in self.exposed:
            model.observe(self._on_set, name)
            if isinstance(model.trait(name).handler, (List, Dict, Set)):
                model.observe(self._on_items, f"{name}:items")

    def close(self) -> None:
        for name in self.exposed:
            self.model.observe(self._on_set, name, remove=True)
            if isinstance(self.model.trait(name).handler, (List, Dict, Set)):
                self.model.observe(self._on_items, f"{name}:items", remove=True)

    # -- state ------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The full exposed state as JSON-ready data."""
        return {name: encode_value(getattr(self.model, name)) for name in self.exposed}

    def restore(self, state: dict[str, Any]) -> None:
        """Load a saved state silently and recreate a handler per participant."""
        self._muted = True
        try:
            for name in self.exposed:
                if name in state:
                    setattr(self.model, name, self._decoders[name](state[name]))
        finally:
            self._muted = False
        self.handlers = {s: self._new_handler(s) for s in self.model.participants}

    # -- sessions ---------------------------------------------------------------
    def login(self, session: str, name: str) -> bool:
        """Create the session's handler; False (and no change) if it exists already."""
        if session in self.handlers:
            return False
        self.handlers[session] = self._new_handler(session)
        self.model.login(session, name)
        return True

    def logout(self, session: str) -> bool:
        handler = self.handlers.pop(session, None)
        if handler is None:
            return False
        self.model.logout(session)
        return True

    def write(self, session: str, trait: str, value: Any) -> None:
        """Set ``trait`` on the session's handler, or raise :class:`BridgeError`."""
        handler = self.handlers.get(session)
        if handler is None:
            raise BridgeError("unknown_session", "this session is not logged in")
        if trait not in self.writable:
            raise BridgeError("not_writable", f"{trait!r} is not a trait clients may set")
        try:
            setattr(handler, trait, value)
        except TraitError:
            raise BridgeError("invalid_value", f"must be {_accepted(handler, trait, value)}") from None

    def _new_handler(self, session: str) -> SessionHandler:
        return type(self.model).handler_class(model=self.model, session=session)

    # -- observers --------------------------------------------------------------
    def _on_set(self, event: TraitChangeEvent) -> None:
        if not self._muted:
            self._emit(
                {"type": "trait_change", "trait": event.name, "op": "set", "value": encode_value(event.new)}
            )

    def _on_items(self, event: ListChangeEvent | DictChangeEvent | SetChangeEvent) -> None:
        if self._muted:
            return
        name = self._trait_of(event)
        if isinstance(event, ListChangeEvent):
            change = {
                "op": "list",
                "index": event.index,
                "removed": len(event.removed),
                "added": encode_value(event.added),
            }
        elif isinstance(event, DictChangeEvent):
            change = {
                "op": "dict",
                "set": encode_value(event.added),
                "removed": [str(k) for k in event.removed if k not in event.added],
            }
        else:
            change = {
                "op": "set_items",
                "added": encode_value(event.added),
                "removed": encode_value(event.removed),
            }
        self._emit({"type": "trait_change", "trait": name, **change})

    def _trait_of(self, event: Any) -> str:
        container = event.object
        for name in self.exposed:
            if getattr(self.model, name) is container:
                return str(name)
        raise LookupError("item change on a container that is not exposed")


def _accepted(handler: HasTraits, trait: str, value: Any) -> str:
    """What ``trait`` accepts, in Traits' own words (the trait's description, not the error's text)."""
    try:
        return str(handler.trait(trait).full_info(handler, trait, value))
    except Exception:  # noqa: BLE001 - a handler's full_info may evaluate dynamic bounds; the refusal stands regardless
        return "a value this trait accepts"
