"""A small shared model for the RemoteModel tests: ``TRAITSWEB_MODEL=tests.client.lab:create``.

``code`` is checked by a regex, which the schema does not publish: the gateway lets any string through and
the model's Traits validation refuses it, so a test sees the model's own refusal.
"""

from __future__ import annotations

from traits.api import ComparisonMode, Dict, Enum, Instance, Int, List, Range, Set, Str, String, observe

from traitsweb.bridge import SessionHandler, SharedModel


class Lab(SharedModel):
    level = Range(0, 100, 10, exposed=True, label="Level", desc="how high the lab runs")
    mode = Enum("idle", "busy", exposed=True)
    code = Str("AAA", exposed=True)
    log = List(Int, exposed=True)
    tags = Set(Str, exposed=True)
    counts = Dict(Str, Int, exposed=True)
    notes = List(Str, exposed=True)


class LabHandler(SessionHandler):
    model = Instance(Lab)
    level = Range(0, 100, 10, client=True, comparison_mode=ComparisonMode.none)
    mode = Enum("idle", "busy", client=True, comparison_mode=ComparisonMode.none)
    code = String("AAA", regex=r"[A-Z]{3}", client=True, comparison_mode=ComparisonMode.none)
    #: a writable container: clients write the whole list (at most 3 notes)
    notes = List(Str, maxlen=3, client=True, comparison_mode=ComparisonMode.none)
    #: write-only: appended to the model's ``log``, counted per name in ``counts``, its name added to ``tags``
    bump = Int(client=True, comparison_mode=ComparisonMode.none)

    @observe("level, mode, code, notes")
    def _steer(self, event: object) -> None:
        setattr(self.model, event.name, event.new)  # type: ignore[attr-defined]

    @observe("bump")
    def _bump(self, event: object) -> None:
        name = self.model.participants.get(self.session, "?")
        self.model.log.append(self.bump)
        self.model.counts[name] = self.model.counts.get(name, 0) + 1
        self.model.tags.add(name)


Lab.handler_class = LabHandler


def create() -> Lab:
    return Lab()
