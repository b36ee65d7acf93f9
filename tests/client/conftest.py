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

from runner.stack import Stack  # noqa: E402
from tests.observers import reraise_observer_errors  # noqa: E402, F401 - autouse

LAB = "tests.client.lab:create"


@pytest.fixture(scope="package")
def lab_stack(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    """RabbitMQ, the lab model and 2 gateways behind nginx."""
    # sessions outlive any pause of this module's tests (broker and gateway restarts under load)
    env = {"*": {"TRAITSWEB_HEARTBEAT_MS": "5000"}, "model": {"TRAITSWEB_MODEL": LAB, "TRAITSWEB_IDLE_TIMEOUT": "3600"}}
    with make_stack(gateways=2, proxy=True, env=env) as stack:
        yield stack
