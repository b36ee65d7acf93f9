"""Traits observers under test: import :func:`reraise_observer_errors` into a conftest or test module (autouse)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from traits.api import pop_exception_handler, push_exception_handler

__all__ = ["reraise_observer_errors"]


@pytest.fixture(autouse=True)
def reraise_observer_errors() -> Iterator[None]:
    """A failing Traits observer fails the test instead of being logged."""
    push_exception_handler(reraise_exceptions=True)
    yield
    pop_exception_handler()
