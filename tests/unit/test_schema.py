"""The JSON Schema of each trait type the bridge describes, and of a whole shared model's snapshot."""

from __future__ import annotations

import json
from typing import Any

import pytest
from traits.api import Any as AnyTrait
from traits.api import TraitError, Bool, CInt, Dict, Either, Enum, Float, HasStrictTraits, HasTraits, Instance, Int
from traits.api import List, Range, Set, Str, String, Tuple

from traitsweb import protocol
from traitsweb.bridge import Bridge, BoundedStr, SessionHandler, SharedModel
from traitsweb.schema import describe, range_bounds


class Point(HasStrictTraits):
    x = Float()
    y = Float()
    note = Str(transient=True)


class Node(HasTraits):
    """Contains itself: described to a bounded depth, never forever."""


Node.add_class_trait("children", List(Instance(Node)))


class Example(HasTraits):
    i = Int(7)
    f = Float(0.5)
    s = Str("hi")
    b = Bool(True)
    c = CInt()
    ri = Range(1, 5, 3)
    rf = Range(0.0, 1.0)
    r_open = Range(0.0, 1.0, 0.5, exclude_low=True, exclude_high=True)
    r_low = Range(low=0)
    r_named = Range(low=0.0, high="f")
    e = Enum("red", "green", "blue")
    e_num = Enum(1, 2, 3)
    e_dynamic = Enum(values="names")
    e_objects = Enum(None, Point)
    names = List(Str)
    l_int = List(Int)
    l_float = List(Float)
    l_str = List(Str)
    l_bool = List(Bool)
    l_range = List(Range(0, 9))
    l_enum = List(Enum("a", "b"))
    l_any = List()
    l_bounded = List(Int, minlen=1, maxlen=3)
    l_points = List(Instance(Point))
    d = Dict(Str, Int)
    d_any = Dict()
    d_lists = Dict(Str, List(Float))
    st = Set(Str)
    st_int = Set(Int)
    inst = Instance(Point)
    inst_other = Instance(json.JSONDecoder)
    anything = AnyTrait()
    either = Either(Int, Str)
    tup = Tuple(Int, Int)
    bounded = BoundedStr(minlen=1, maxlen=10)
    string = String(minlen=2, maxlen=4)
    tree = Instance(Node)
    labelled = Int(label="Set point", desc="the temperature to hold, in kelvin")
    placed = Float(order=2, group="Sensors")


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("i", {"type": "integer", "default": 7}),
        ("f", {"type": "number", "default": 0.5}),
        ("s", {"type": "string", "default": "hi"}),
        ("b", {"type": "boolean", "default": True}),
        ("c", {"type": "integer", "default": 0}),
        ("ri", {"type": "integer", "minimum": 1, "maximum": 5, "default": 3}),
        ("rf", {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.0}),
        ("r_open", {"type": "number", "exclusiveMinimum": 0.0, "exclusiveMaximum": 1.0, "default": 0.5}),
        ("r_low", {"type": "integer", "minimum": 0, "default": 0}),
        ("r_named", {"type": "number"}),  # a bound named by another trait moves: none is published
        ("e", {"enum": ["red", "green", "blue"], "default": "red"}),
        ("e_num", {"enum": [1, 2, 3], "default": 1}),
        ("e_dynamic", {}),
        ("e_objects", {}),  # values JSON cannot carry
        ("l_int", {"type": "array", "items": {"type": "integer"}}),
        ("l_float", {"type": "array", "items": {"type": "number"}}),
        ("l_str", {"type": "array", "items": {"type": "string"}}),
        ("l_bool", {"type": "array", "items": {"type": "boolean"}}),
        ("l_range", {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}}),
        ("l_enum", {"type": "array", "items": {"enum": ["a", "b"]}}),
        ("l_any", {"type": "array", "items": {}}),
        ("l_bounded", {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}),
        ("l_points", {"type": "array", "items": {"type": "object", "properties": {
            "x": {"type": "number"}, "y": {"type": "number"}}}}),
        ("d", {"type": "object", "additionalProperties": {"type": "integer"}}),
        ("d_any", {"type": "object", "additionalProperties": {}}),
        ("d_lists", {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}}}),
        ("st", {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        ("st_int", {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
        ("inst", {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}),
        ("inst_other", {}),
        ("anything", {}),
        ("either", {}),
        ("tup", {}),
        ("bounded", {"type": "string", "minLength": 1, "maxLength": 10, "default": ""}),
        ("string", {"type": "string", "minLength": 2, "maxLength": 4, "default": ""}),
        ("labelled", {"type": "integer", "title": "Set point", "description": "the temperature to hold, in kelvin",
                      "default": 0}),
        ("placed", {"type": "number", "default": 0.0, "x-order": 2, "x-group": "Sensors"}),
    ],
)
def test_each_trait_type(name: str, schema: dict[str, Any]) -> None:
    described = describe(Example.class_traits()[name])
    assert described == schema
    assert json.loads(protocol.encode(described)) == schema  # JSON as it is


def test_a_recursive_class_is_described_to_a_bounded_depth() -> None:
    schema = describe(Example.class_traits()["tree"])
    depth = 0
    while schema.get("type") == "object":
        schema = schema["properties"]["children"].get("items", {})
        depth += 1
    assert 1 < depth < 20 and schema == {}


def test_range_bounds_still_read_what_traits_validates() -> None:
    """Pins the one private access (Traits has no public Range bounds): fails loudly if Traits changes them."""
    cases = [
        (Range(1, 5), (1, 5, False, False)),
        (Range(0.0, 1.0, exclude_low=True), (0.0, 1.0, True, False)),
        (Range(high=3), (None, 3, False, False)),
    ]
    for handler, bounds in cases:
        assert range_bounds(handler) == bounds

    class Probe(HasTraits):
        x = Range(0.0, 1.0, 0.5, exclude_high=True)

    low, high, exclude_low, exclude_high = range_bounds(Probe.class_traits()["x"].handler)
    probe = Probe()
    probe.x = low  # the published bounds are the ones Traits enforces
    with pytest.raises(TraitError):
        probe.x = high
    assert not exclude_low and exclude_high


class Gadget(SharedModel):
    reading = Float(exposed=True, label="Reading")
    history = List(Float, exposed=True)
    tags = Set(Str, exposed=True)
    table = Dict(Str, Int, exposed=True)
    mode = Enum("idle", "run", exposed=True)
    blob = AnyTrait(exposed=True)
    secret = Int(5)  # not exposed: not described


class GadgetHandler(SessionHandler):
    model = Instance(Gadget)
    mode = Enum("idle", "run", client=True)  # exposed on the model too: readable and writable
    setpoint = Range(0.0, 10.0, 1.0, client=True, desc="where to go")
    anything = AnyTrait(client=True)


Gadget.handler_class = GadgetHandler


def test_the_snapshot_schema_covers_exposed_and_writable_traits() -> None:
    bridge = Bridge(Gadget(), lambda change: None)
    assert bridge.schema == {
        "type": "object",
        "properties": {
            "anything": {"writeOnly": True},
            "blob": {"readOnly": True},
            "history": {"type": "array", "items": {"type": "number"}, "readOnly": True},
            "mode": {"enum": ["idle", "run"], "default": "idle"},
            "participants": {"type": "object", "additionalProperties": {"type": "string"}, "readOnly": True},
            "reading": {"type": "number", "title": "Reading", "default": 0.0, "readOnly": True},
            "setpoint": {"type": "number", "minimum": 0.0, "maximum": 10.0, "description": "where to go",
                         "default": 1.0, "writeOnly": True},
            "table": {"type": "object", "additionalProperties": {"type": "integer"}, "readOnly": True},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "readOnly": True},
        },
    }
    assert set(bridge.writable) == {"anything", "mode", "setpoint"}
    protocol.encode(bridge.schema)  # the snapshot can carry it


def test_a_trait_that_cannot_be_described_is_any_json_not_a_crash(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    import traitsweb.schema as schema_module

    def fail(handler: Any, depth: int) -> dict[str, Any]:
        raise AttributeError("a Traits update renamed something")

    monkeypatch.setattr(schema_module, "_type_schema", fail)
    bridge = Bridge(Gadget(), lambda change: None)
    assert bridge.schema["properties"]["reading"] == {"readOnly": True}
    assert bridge.schema["properties"]["setpoint"] == {"writeOnly": True}
    assert "cannot describe trait 'reading'" in caplog.text
