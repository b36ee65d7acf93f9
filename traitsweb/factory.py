"""``pkg.module:factory``: how a shared model is named, found and checked.

The model service builds its model with :func:`load_model`, and ``traitsweb
serve`` calls the same function before it starts anything, so a factory that
cannot serve fails with one line naming the problem instead of a model process
restarting in a loop::

    model = load_model("examples.instrument:create")
"""

from __future__ import annotations

import importlib
import inspect
import traceback

from traitsweb.bridge import Bridge, SessionHandler, SharedModel

__all__ = ["FactoryError", "load_model"]


class FactoryError(Exception):
    """The factory cannot serve; the message names the problem in one line."""


def load_model(spec: str) -> SharedModel:
    """Import ``module:factory``, call it, and check that what it returns can be served."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise FactoryError(f"{spec!r} is not of the form pkg.module:factory")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise FactoryError(f"cannot import {module_name!r}: no module named {exc.name!r}") from None
        raise FactoryError(f"importing {module_name!r} failed: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        raise FactoryError(f"importing {module_name!r} failed: {_one_line(exc)}") from None
    factory: object = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise FactoryError(f"module {module_name!r} has no attribute {attribute!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise FactoryError(f"{spec} is not callable (it is {_a(factory)})")
    try:
        model = factory()
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        raise FactoryError(f"{spec}() raised {_one_line(exc)}") from None
    if not isinstance(model, SharedModel):
        raise FactoryError(f"{spec}() returned {_a(model)}, not a traitsweb.bridge.SharedModel")
    _check_handler(spec, model)
    return model


def _check_handler(spec: str, model: SharedModel) -> None:
    name = type(model).__name__
    handler = getattr(type(model), "handler_class", None)
    if handler is None:
        raise FactoryError(
            f"{spec}() returned a {name} without a handler class (set {name}.handler_class to a SessionHandler subclass)"
        )
    if not (isinstance(handler, type) and issubclass(handler, SessionHandler)):
        raise FactoryError(f"{name}.handler_class is {_a(handler)}, not a traitsweb.bridge.SessionHandler subclass")
    try:
        Bridge(model, lambda change: None).close()
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        raise FactoryError(f"the bridge cannot serve {spec}(): {_one_line(exc)}") from None
    start = getattr(model, "start", None)
    if start is not None:
        try:
            inspect.signature(start).bind(None)
        except (TypeError, ValueError):
            raise FactoryError(f"{name}.start must take one argument, the traitsweb.background.Scheduler") from None


def _a(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"the class {value.__module__}.{value.__qualname__}"
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _one_line(exc: BaseException) -> str:
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    where = traceback.extract_tb(exc.__traceback__)
    if where:
        last = where[-1]
        text += f" ({last.filename}, line {last.lineno})"
    return " ".join(text.split())
