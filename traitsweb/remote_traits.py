"""Traits from a snapshot's JSON Schema: the other direction of :mod:`traitsweb.schema`.

:func:`trait_for` turns one property of the schema (see ``docs/protocol.md``)
into a trait type that accepts the JSON the model publishes for it;
:func:`remote_class` makes a ``HasTraits`` subclass with one such trait per
property, as :class:`traitsweb.client.RemoteModel` needs. :func:`from_json`
turns a published value into what its trait holds (a set for ``Set``).
"""

from __future__ import annotations

from typing import Any

from traits.api import Any as AnyTrait
from traits.api import Bool, Dict, Enum, Float, HasTraits, Int, List, Range, Set, Str, String
from traits.trait_type import TraitType

__all__ = ["from_json", "remote_class", "trait_for"]

Schema = dict[str, Any]

#: item types a Python set can hold (JSON arrays and objects are not hashable)
_HASHABLE = {"integer", "number", "string", "boolean"}


def trait_for(schema: Schema, *, item: bool = False, **extra: Any) -> TraitType:
    """The trait type of values described by ``schema``; ``{}`` and anything unknown is ``Any``.

    ``title`` becomes the trait's ``label``, ``description`` its ``desc``,
    ``default`` its default, ``extra`` more metadata; a container's items
    (``item=True``) get no metadata.
    """
    metadata: dict[str, Any] = dict(extra)
    if not item:
        if "title" in schema:
            metadata["label"] = schema["title"]
        if "description" in schema:
            metadata["desc"] = schema["description"]
    return _type_for(schema, schema.get("default"), metadata)


def _type_for(schema: Schema, default: Any, metadata: dict[str, Any]) -> TraitType:
    kind = schema.get("type")
    if "enum" in schema and schema["enum"]:
        values = list(schema["enum"])
        return Enum(default if default in values else values[0], values, **metadata)
    if kind in ("integer", "number"):
        return _number(schema, default, metadata)
    if kind == "string":
        text = default if isinstance(default, str) else ""
        if "minLength" in schema or "maxLength" in schema:
            return String(text, minlen=schema.get("minLength", 0), maxlen=schema.get("maxLength", 1 << 62),
                          **metadata)
        return Str(text, **metadata)
    if kind == "boolean":
        return Bool(bool(default), **metadata)
    if kind == "array":
        items = schema.get("items", {})
        if schema.get("uniqueItems") and items.get("type") in _HASHABLE | {None} and ("type" in items or "enum" in items):
            return Set(trait_for(items, item=True), **metadata)
        return List(trait_for(items, item=True), minlen=schema.get("minItems", 0),
                    maxlen=schema.get("maxItems", 1 << 62), **metadata)
    if kind == "object":
        value_schema = schema.get("additionalProperties")
        value_trait = trait_for(value_schema, item=True) if isinstance(value_schema, dict) else AnyTrait()
        return Dict(Str, value_trait, **metadata)
    return AnyTrait(default, **metadata)


def _number(schema: Schema, default: Any, metadata: dict[str, Any]) -> TraitType:
    integer = schema["type"] == "integer"
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    number = default if isinstance(default, (int, float)) and not isinstance(default, bool) else None
    if low is None and high is None:
        return Int(int(number or 0), **metadata) if integer else Float(float(number or 0), **metadata)
    convert = int if integer else float
    # a missing bound is None: unbounded on that side (Traits' stubs do not say so, hence the mapping)
    bounds: dict[str, Any] = {
        "low": None if low is None else convert(low),
        "high": None if high is None else convert(high),
        "value": None if number is None else convert(number),
    }
    return Range(**bounds, exclude_low="exclusiveMinimum" in schema, exclude_high="exclusiveMaximum" in schema,
                 **metadata)


def remote_class(schema: Schema, base: type[HasTraits] = HasTraits, *, name: str = "Remote") -> type[HasTraits]:
    """A subclass of ``base`` with one trait per property of ``schema``.

    Each trait carries ``remote=True`` and ``read_only`` (the property is
    ``readOnly``: only the model changes it); a name that ``base`` already
    defines (an attribute or method) raises ``ValueError`` instead of hiding it.
    """
    traits: dict[str, TraitType] = {}
    for trait_name, prop in schema.get("properties", {}).items():
        if not trait_name.isidentifier() or trait_name.startswith("_") or hasattr(base, trait_name) \
                or trait_name in base.class_traits():
            raise ValueError(f"the model's trait {trait_name!r} clashes with a name of {base.__name__}")
        traits[trait_name] = trait_for(prop, remote=True, read_only=bool(prop.get("readOnly")))
    return type(name, (base,), traits)


def from_json(trait_type: Any, value: Any) -> Any:
    """A published JSON value as its trait holds it (a set travels as a sorted list)."""
    if isinstance(trait_type, Set) and isinstance(value, list):
        return set(value)
    return value
