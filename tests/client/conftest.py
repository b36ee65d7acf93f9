"""RemoteModel tests: one stack serving ``tests.client.lab`` for the package; Qt offscreen for the window test.

Enthought's toolkit is chosen at first import, so it is set here, first (as in tests/desktop/conftest.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("ETS_TOOLKIT", "qt.celiagg")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import AbstractContextManager  # noqa: E402

import pytest  # noqa: E402
from traits.api import pop_exception_handler, push_exception_handler  # noqa: E402

from runner.stack import Stack  # noqa: E402

LAB = "tests.client.lab:create"


@pytest.fixture(autouse=True)
def _reraise_observer_errors() -> Iterator[None]:
    """A failing Traits observer fails the test instead of being logged."""
    push_exception_handler(reraise_exceptions=True)
    yield
    pop_exception_handler()


@pytest.fixture(scope="package")
def lab_stack(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    """RabbitMQ, the lab model and 2 gateways behind nginx."""
    # sessions outlive any pause of this module's tests (broker and gateway restarts under load)
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": "5000"}, "model": {"TRAITSWEB_MODEL": LAB, "TRAITSWEB_IDLE_TIMEOUT": "3600"}}
    with make_stack(gateways=2, proxy=True, env=env) as stack:
        yield stack
