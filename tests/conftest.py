"""Shared fixtures: real stacks (private RabbitMQ node + services) on free ports.

The HTTP tests run against the local stack, or, with ``TRAITSWEB_BASE_URL`` set (e.g. the compose stack
under podman), against that URL; tests that need to kill or reconfigure processes of the local stack are
skipped there (``local_stack`` fixture).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.stack import ROOT, Stack, StackConfig

_counter = itertools.count()


@pytest.fixture(scope="session")
def make_stack() -> Callable[..., contextlib.AbstractContextManager[Stack]]:
    """``with make_stack(gateways=2, env={...}) as stack:`` a fresh stack in its own run directory;
    ``serving="pkg.module:factory"`` serves that model instead of the chat."""

    @contextlib.contextmanager
    def factory(*, serving: str | None = None, **options: Any) -> Iterator[Stack]:
        if serving is not None:
            env = dict(options.get("env") or {})
            env["model"] = {**env.get("model", {}), "TRAITSWEB_MODEL": serving}
            options["env"] = env
        run_dir = ROOT / ".run" / "tests" / f"{os.getpid()}-{next(_counter)}"  # unique: pytest runs may overlap
        config = StackConfig(run_dir=run_dir, **options)  # type: ignore[arg-type]
        with Stack(config) as stack:
            yield stack

    return factory


@pytest.fixture(scope="session")
def model_stack(make_stack: Callable[..., contextlib.AbstractContextManager[Stack]]) -> Iterator[Stack]:
    """RabbitMQ + the model, shared by the non-destructive model tests.

    Its idle timeout (an hour) outlasts any test session, so no session is ever logged out between two
    snapshots of a test, however loaded the machine; the idle logout has its own short-timeout stack
    (``tests/model/test_model_stack.py``).
    """
    with make_stack(gateways=0, proxy=False, env={"model": {"TRAITSWEB_IDLE_TIMEOUT": "3600"}}) as stack:
        yield stack


def pytest_configure(config: pytest.Config) -> None:
    """Remove the run directories of earlier test processes that are gone."""
    import shutil

    runs = ROOT / ".run" / "tests"
    runs.mkdir(parents=True, exist_ok=True)
    for path in runs.iterdir():
        pid = path.name.split("-")[0]
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


# -- the HTTP suite: the local stack, or any running stack (TRAITSWEB_BASE_URL, e.g. compose under podman) --
BASE_URL = os.environ.get("TRAITSWEB_BASE_URL", "").rstrip("/")


@pytest.fixture(scope="session")
def web_stack(make_stack: Any) -> Iterator[Stack | None]:
    """2 replicas behind nginx, short touch interval; None when testing a stack we did not start."""
    if BASE_URL:
        yield None
        return
    env = {"gateway": {"TRAITSWEB_TOUCH_INTERVAL": "1"}}
    with make_stack(gateways=2, proxy=True, env=env) as stack:
        yield stack


@pytest.fixture(scope="session")
def base_url(web_stack: Stack | None) -> str:
    return BASE_URL or web_stack.proxy_url  # type: ignore[union-attr]


@pytest.fixture
def local_stack(web_stack: Stack | None) -> Stack:
    if web_stack is None:
        pytest.skip("needs to control the processes of the local stack (TRAITSWEB_BASE_URL is set)")
    return web_stack


@pytest.fixture
def new_client(base_url: str) -> Iterator[Any]:
    """``new_client(urls=None, origin=None)``: a WebClient closed when the test ends."""
    from tests.webclient import WebClient

    made: list[WebClient] = []

    def factory(urls: Any = None, *, origin: str | None = None) -> WebClient:
        client = WebClient(urls or base_url, origin=origin or (urls if isinstance(urls, str) else None))
        made.append(client)
        return client

    yield factory
    for client in made:
        client.http.close()
