"""A model with a bug: logging in a name that starts with ``crash`` changes the state, then raises.

Served with ``TRAITSWEB_MODEL=tests.models.fragile:create`` to prove that the model service rolls
back a frame that fails in any way (not only a protocol error) and dead-letters it.
"""

from __future__ import annotations

from traits.api import Instance, Int, List, Str

from traitsweb.bridge import SessionHandler, SharedModel


class Fragile(SharedModel):
    names = List(Str, exposed=True)

    def login(self, session: str, name: str) -> None:
        super().login(session, name)
        self.names.append(name)
        if name.startswith("crash"):
            raise RuntimeError(f"a bug in the model, after changing it (login of {name!r})")


class FragileHandler(SessionHandler):
    model = Instance(Fragile)
    note = Int(client=True)


Fragile.handler_class = FragileHandler


def create() -> Fragile:
    return Fragile()
