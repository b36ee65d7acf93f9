"""Shared fixtures: real stacks (private RabbitMQ node + services) on free ports."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.stack import ROOT, Stack, StackConfig

_counter = itertools.count()


@pytest.fixture(scope="session")
def make_stack() -> Callable[..., contextlib.AbstractContextManager[Stack]]:
    """``with make_stack(gateways=2, env={...}) as stack:`` a fresh stack in its own run directory."""

    @contextlib.contextmanager
    def factory(**options: object) -> Iterator[Stack]:
        run_dir = ROOT / ".run" / "tests" / f"stack-{next(_counter)}"
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        config = StackConfig(run_dir=run_dir, **options)  # type: ignore[arg-type]
        with Stack(config) as stack:
            yield stack

    return factory


@pytest.fixture(scope="session")
def model_stack(make_stack: Callable[..., contextlib.AbstractContextManager[Stack]]) -> Iterator[Stack]:
    """RabbitMQ + the model, shared by the non-destructive model tests (idle timeout 3 s)."""
    with make_stack(gateways=0, proxy=False, env={"model": {"TRAITSWEB_IDLE_TIMEOUT": "3"}}) as stack:
        yield stack


def pytest_configure(config: pytest.Config) -> None:
    Path(ROOT / ".run" / "tests").mkdir(parents=True, exist_ok=True)
