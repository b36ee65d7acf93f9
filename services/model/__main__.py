"""``python -m services.model``: serve the shared model over STOMP until SIGTERM/SIGINT."""

from __future__ import annotations

import importlib
import logging
import signal
import threading

from traitsweb.broker import connect

from .config import ModelSettings
from .service import ModelService
from .store import Store


def main() -> None:
    settings = ModelSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s model %(levelname)s %(name)s: %(message)s")
    module, _, factory = settings.model.partition(":")
    model = getattr(importlib.import_module(module), factory)()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Store(settings.data_dir / "model.sqlite3") as store:
        service = ModelService(settings, model, store)
        with connect(
            settings.broker, name="model", heartbeat_ms=settings.heartbeat_ms, on_state=service.on_broker_state
        ) as client:
            service.attach(client)
            service.run(stop)


if __name__ == "__main__":
    main()
