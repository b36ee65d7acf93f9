"""Schema -> traits (traitsweb.remote_traits), no stack: each JSON Schema property becomes the trait that holds
the JSON the model publishes for it, refuses what the schema refuses, and carries the metadata."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from traits.api import Any as AnyTrait
from traits.api import Bool, Dict, Enum, Float, HasTraits, Instance, Int, List, Range, Set, Str, String, TraitError
from traits.api import Tuple
from traits.trait_types import BaseRange

from runner.stack import ROOT
from traitsweb.bridge import encode_value
from traitsweb.client import RemoteModel
from traitsweb.remote_traits import from_json, remote_class, trait_for
from traitsweb.schema import model_schema


class Point(HasTraits):
    x = Float()


class Model(HasTraits):
    i = Int(7, label="An int", desc="counts things")
    f = Float(0.5)
    s = Str("hi")
    b = Bool(True)
    ri = Range(1, 5, 3)
    rf = Range(0.0, 100.0, 20.0)
    r_open = Range(0.0, 1.0, 0.5, exclude_low=True, exclude_high=True)
    r_low = Range(low=0)
    e = Enum("red", "green", "blue")
    bounded = String("ab", minlen=1, maxlen=3)
    li = List(Int)
    lp = List(Instance(Point))
    tags = Set(Str)
    pairs = Set(Tuple(Int, Int))
    counts = Dict(Str, Int)
    point = Instance(Point, ())
    anything = AnyTrait()


def generated() -> tuple[type[HasTraits], dict[str, Any]]:
    traits = Model.class_traits(type=lambda kind: kind != "event")
    traits = {name: trait for name, trait in traits.items() if name in Model.class_editable_traits()}
    schema = model_schema(exposed=traits, writable={})
    return remote_class(schema), schema


@pytest.mark.parametrize(("name", "kind"), [
    ("i", Int), ("f", Float), ("s", Str), ("b", Bool), ("ri", BaseRange), ("rf", BaseRange), ("r_open", BaseRange),
    ("r_low", BaseRange), ("e", Enum), ("bounded", String), ("li", List), ("lp", List), ("tags", Set),
    ("pairs", List), ("counts", Dict), ("point", Dict), ("anything", AnyTrait),
])
def test_each_property_becomes_its_trait_type(name: str, kind: type) -> None:
    klass, _ = generated()
    assert isinstance(klass.class_traits()[name].handler, kind)


def test_values_the_model_publishes_fit_and_what_the_schema_refuses_is_refused() -> None:
    klass, schema = generated()
    remote = klass()
    model = Model(li=[1, 2], lp=[Point(x=1.5)], tags={"a", "b"}, pairs={(1, 2)}, counts={"a": 1}, anything=[1, {}])
    for name in schema["properties"]:  # every published value fits its generated trait
        value = encode_value(getattr(model, name))
        setattr(remote, name, from_json(remote.trait(name).handler, value))
        assert encode_value(getattr(remote, name)) == value, name
    refused = {"i": 1.5, "s": 3, "b": 1, "ri": 6, "rf": 100.5, "r_open": 0.0, "r_low": -1, "e": "pink",
               "bounded": "abcd", "li": [1.5], "tags": {3}, "counts": {"a": "x"}}
    for name, value in refused.items():
        with pytest.raises(TraitError):
            setattr(remote, name, value)
    remote.rf = 30  # an integer is a number
    assert remote.rf == 30.0


def test_metadata_and_defaults_follow_the_schema() -> None:
    klass, _ = generated()
    remote = klass()
    assert (remote.trait("i").label, remote.trait("i").desc) == ("An int", "counts things")
    assert (remote.i, remote.s, remote.b, remote.ri, remote.rf, remote.e) == (7, "hi", True, 3, 20.0, "red")
    assert all(remote.trait(name).remote and remote.trait(name).read_only for name in ("i", "e", "tags"))


def test_writable_and_write_only_properties() -> None:
    schema = {"type": "object", "properties": {
        "total": {"type": "integer", "readOnly": True},
        "increment": {"type": "integer", "minimum": -10, "maximum": 10, "default": 0, "writeOnly": True},
        "colour": {"enum": ["red", "green", "blue"], "writeOnly": True},
    }}
    klass = remote_class(schema)
    remote = klass()
    assert remote.trait("total").read_only and not remote.trait("increment").read_only
    assert remote.colour == "red"
    with pytest.raises(TraitError):
        remote.increment = 11


def test_unknown_schemas_are_any() -> None:
    for schema in ({}, {"type": ["string", "null"]}, {"enum": []}, {"type": "object"}):
        trait = trait_for(schema)
        assert isinstance(trait, (AnyTrait, Dict)), schema


def test_a_name_that_would_hide_the_clients_own_is_refused() -> None:
    for name in ("connected", "errors", "set", "close", "edit_traits", "_link"):
        with pytest.raises(ValueError, match=name):
            remote_class({"type": "object", "properties": {name: {"type": "integer"}}}, RemoteModel)


def test_importing_the_client_loads_no_gui_and_no_service() -> None:
    """A notebook imports it without a Qt event loop; the library never imports a service."""
    code = ("import sys, traitsweb.client\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyface', 'traitsui', 'services', 'PySide6'))\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
