"""JSON Schema descriptions of Traits trait types, from the traits' public attributes.

:func:`describe` turns one trait into the JSON Schema of the JSON that
:func:`traitsweb.bridge.encode_value` makes of its values; :func:`model_schema`
describes a whole shared model for the snapshot (see ``docs/protocol.md``).
A trait type this module does not know is ``{}``: any JSON.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from traits.api import (
    BaseBool,
    BaseEnum,
    BaseFloat,
    BaseInt,
    BaseRange,
    BaseStr,
    Dict,
    HasTraits,
    Instance,
    List,
    Set,
    String,
)
from traits.api import Undefined  # type: ignore[attr-defined]  # public in traits.api, missing from its stubs
from traits.ctrait import CTrait

__all__ = ["describe", "model_schema", "range_bounds"]

log = logging.getLogger(__name__)

Schema = dict[str, Any]

#: what a generated view reads from a property, as opposed to what a write must satisfy
_PRESENTATION = ("title", "description", "x-order", "x-group")

#: A HasTraits class inside itself (a tree of nodes) is described this deep, then as any JSON.
_MAX_DEPTH = 8


def range_bounds(handler: BaseRange) -> tuple[Any, Any, bool, bool]:
    """``(low, high, exclude_low, exclude_high)`` of a ``Range``.

    Traits has no public accessor for a Range's bounds (its rework, enthought/traits#594,
    is unmerged), so this is the one place that reads the private attributes;
    ``tests/unit/test_schema.py`` pins them and fails loudly if Traits renames them.
    """
    return handler._low, handler._high, handler._exclude_low, handler._exclude_high


def describe(ctrait: CTrait, *, _depth: int = 0) -> Schema:
    """The JSON Schema of one trait's encoded values, with ``title``/``description``/``default``."""
    trait: Any = ctrait  # CTrait's stubs omit its dynamic attributes (handler, metadata such as label)
    schema = _type_schema(trait.handler, _depth)
    if trait.label:
        schema["title"] = str(trait.label)
    if trait.desc:
        schema["description"] = str(trait.desc)
    if isinstance(trait.order, (int, float)) and not isinstance(trait.order, bool):
        schema["x-order"] = trait.order  # where a generated view puts it (``order=`` metadata)
    if isinstance(trait.group, str) and trait.group:
        schema["x-group"] = trait.group  # the heading a generated view puts it under (``group=`` metadata)
    default = trait.default
    if default is not Undefined and _is_json_scalar(default) and default is not None and schema:
        schema["default"] = default
    return schema


def model_schema(exposed: dict[str, CTrait], writable: dict[str, CTrait]) -> Schema:
    """The snapshot's schema: one object property per exposed or client-writable trait.

    An exposed trait clients cannot write is ``readOnly``; a writable handler
    trait that is not part of the state is ``writeOnly``; a name that is both
    is described by the handler's trait (what a write must satisfy).
    """
    properties: dict[str, Schema] = {}
    for name in sorted(set(exposed) | set(writable)):
        if name in writable:
            properties[name] = _describe_or_any(name, writable[name])
            if name not in exposed:
                properties[name]["writeOnly"] = True
            else:  # how to show it comes from the model's trait where the handler's says nothing
                shown = _describe_or_any(name, exposed[name])
                for key in _PRESENTATION:
                    if key in shown:
                        properties[name].setdefault(key, shown[key])
        else:
            properties[name] = {**_describe_or_any(name, exposed[name]), "readOnly": True}
    return {"type": "object", "properties": properties}


def _describe_or_any(name: str, trait: CTrait) -> Schema:
    """A trait type whose attributes do not read as documented is any JSON: a model never fails to serve for it."""
    try:
        return describe(trait)
    except Exception:  # noqa: BLE001 - a third-party trait type may fail in any way
        handler = getattr(trait, "handler", None)
        log.warning("cannot describe trait %r (%s): published as any JSON", name, type(handler).__name__,
                    exc_info=True)
        return {}


def _type_schema(handler: Any, depth: int) -> Schema:
    if handler is None or depth > _MAX_DEPTH:
        return {}
    if isinstance(handler, BaseRange):
        return _range_schema(handler)
    if isinstance(handler, BaseEnum):
        values = handler.values  # None for an enumeration named by another trait: it moves
        return {"enum": list(values)} if values is not None and all(map(_is_json_scalar, values)) else {}
    if isinstance(handler, BaseBool):
        return {"type": "boolean"}
    if isinstance(handler, BaseInt):
        return {"type": "integer"}
    if isinstance(handler, BaseFloat):
        return {"type": "number"}
    if isinstance(handler, (BaseStr, String)):
        return _string_schema(handler)
    if isinstance(handler, (List, Set)):
        schema: Schema = {"type": "array", "items": _describe_items(handler.item_trait, depth)}
        if isinstance(handler, Set):
            schema["uniqueItems"] = True
        else:
            if handler.minlen > 0:
                schema["minItems"] = handler.minlen
            if handler.maxlen < (1 << 62):
                schema["maxItems"] = handler.maxlen
        return schema
    if isinstance(handler, Dict):
        return {"type": "object", "additionalProperties": _describe_items(handler.value_trait, depth)}
    if isinstance(handler, Instance) and isinstance(handler.klass, type) and issubclass(handler.klass, HasTraits):
        return _object_schema(handler.klass, depth)
    return {}


def _describe_items(trait: CTrait | None, depth: int) -> Schema:
    """The schema of a container's items (no default: items have none)."""
    if trait is None:
        return {}
    schema = describe(trait, _depth=depth + 1)
    schema.pop("default", None)
    return schema


def _range_schema(handler: BaseRange) -> Schema:
    low, high, exclude_low, exclude_high = range_bounds(handler)
    numbers = [b for b in (low, high) if b is not None]
    if not all(_is_json_scalar(b) and not isinstance(b, (bool, str)) for b in numbers):
        return {"type": "number"}  # bounds named by other traits: they move, so none is published
    schema: Schema = {"type": "integer" if all(isinstance(b, int) for b in numbers) else "number"}
    if low is not None:
        schema["exclusiveMinimum" if exclude_low else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if exclude_high else "maximum"] = high
    return schema


def _string_schema(handler: BaseStr | String) -> Schema:
    schema: Schema = {"type": "string"}
    minlen, maxlen = getattr(handler, "minlen", 0), getattr(handler, "maxlen", None)
    if minlen:
        schema["minLength"] = minlen
    if maxlen is not None and maxlen < (1 << 62):
        schema["maxLength"] = maxlen
    return schema


def _object_schema(klass: type[HasTraits], depth: int) -> Schema:
    """A HasTraits value as :func:`~traitsweb.bridge.encode_value` encodes it: its copyable traits."""
    traits = klass.class_traits(type=lambda kind: kind != "event", transient=lambda flag: flag is not True)
    return {"type": "object", "properties": {name: _describe_items(traits[name], depth) for name in sorted(traits)}}


def _is_json_scalar(value: Any) -> bool:
    """JSON can carry it as it is (no NaN or infinity: the protocol's encoder refuses them)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int, str))
