"""Fixtures the fault modules share; each module brings its own ``stack``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.stack import Stack
from tests.faults.standby import seq_witness
from tests.stompclient import Peer


@pytest.fixture(scope="module")
def peer(stack: Stack) -> Iterator[Peer]:
    """Records every out message of the module's run: no seq may carry two different messages."""
    with seq_witness(stack) as p:
        yield p
