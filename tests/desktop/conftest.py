"""Desktop tests: Enthought's toolkit is chosen at first import, so it is set here, first.

``qt.celiagg`` under ``QT_QPA_PLATFORM=offscreen`` opens real Qt windows without
a display (plain ``qt`` draws through QPainter, which fails offscreen) and
renders PNGs with the same celiagg backend as headless mode.
"""

from __future__ import annotations

import os

os.environ["ETS_TOOLKIT"] = "qt.celiagg"
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import AbstractContextManager  # noqa: E402

import pytest  # noqa: E402

from runner.stack import Stack  # noqa: E402
from tests.observers import reraise_observer_errors  # noqa: E402, F401 - autouse


@pytest.fixture(scope="package")
def desktop_stack(make_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    """RabbitMQ, the model and the headless desktop service, shared by the live desktop tests."""
    with make_stack(gateways=0, proxy=False, desktop=True) as stack:
        yield stack
