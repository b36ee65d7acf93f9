"""A second, unrelated shared model: proves the bridge, the protocol and the services are generic.

Served with ``TRAITSWEB_MODEL=tests.models.counter:create``.
"""

from __future__ import annotations

from traits.api import Enum, Instance, Int, List, Range, Set, Str, observe

from traitsweb.bridge import SessionHandler, SharedModel


class Counter(SharedModel):
    total = Int(0, exposed=True)
    history = List(Int, exposed=True)
    colours = Set(Str, exposed=True)


class CounterHandler(SessionHandler):
    model = Instance(Counter)
    increment = Range(-10, 10, 0, client=True)
    colour = Enum("red", "green", "blue", client=True)

    @observe("increment")
    def _add(self, event: object) -> None:
        self.model.total += self.increment
        self.model.history.append(self.model.total)

    @observe("colour")
    def _paint(self, event: object) -> None:
        self.model.colours.add(self.colour)


Counter.handler_class = CounterHandler


def create() -> Counter:
    return Counter()
