"""The model service and a gateway in this process, on the in-memory broker: the HTTP contract in seconds.

The model is ``services.model`` as ``python -m services.model`` wires it (a broker client from the URL,
``ModelService.run`` on its own thread); the gateway is ``create_app`` under Starlette's ``TestClient``
with its lifespan running. Only tests import both services: services never import each other.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path

from starlette.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.model.chat import create
from services.model.config import ModelSettings
from services.model.service import ModelService
from services.model.store import Store
from traitsweb.broker import connect

__all__ = ["InProcess", "in_process"]

URL = "http://testserver"


@dataclass
class InProcess:
    url: str
    http: TestClient
    secret: bytes
    broker_url: str


@contextlib.contextmanager
def model_service(broker_url: str, data_dir: Path, **options: object) -> Iterator[ModelService]:
    settings = ModelSettings(broker_url=broker_url, data_dir=data_dir, **options)  # type: ignore[arg-type]
    stop = threading.Event()
    with Store(settings.data_dir / "model.sqlite3") as store, ModelService(settings, create(), store) as service:
        with connect(settings.broker, name="model", on_state=service.on_broker_state) as client:
            service.attach(client)
            runner = threading.Thread(target=service.run, args=(stop,), name="model", daemon=True)
            runner.start()
            try:
                yield service
            finally:
                stop.set()
                runner.join(10)


#: the contract tests read the state and poll far faster than a browser: the per-session limits on
#: immediate polls and state reads have tests of their own (tests/security/test_floods.py)
UNLIMITED = {"state_rate": 1e6, "state_burst": 1_000_000, "poll_rate": 1e6, "poll_burst": 1_000_000}


@contextlib.contextmanager
def in_process(data_dir: Path, *, gateway: dict[str, object] | None = None,
               model: dict[str, object] | None = None) -> Iterator[InProcess]:
    """A model and one gateway replica on a fresh ``memory://`` broker; the gateway holds the state on entry."""
    name = f"inproc-{uuid.uuid4().hex[:8]}"
    broker_url = f"memory://gateway@{name}"  # each service as its own user: the model checks who sent what
    secret = secrets.token_hex(16)
    settings = GatewaySettings(broker_url=broker_url, session_secret=secret, replica="inproc",  # type: ignore[arg-type]
                               **{"touch_interval": 1.0, **UNLIMITED, **(gateway or {})})
    with model_service(f"memory://model@{name}", data_dir, **(model or {})):
        with TestClient(create_app(settings), base_url=URL) as http:
            # a test client is a browser without cookies unless a test sends them itself
            http.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            deadline = time.monotonic() + 10
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the in-process gateway never became ready"
                time.sleep(0.01)
            yield InProcess(URL, http, secret.encode(), broker_url)
