"""``python -m services.model``: serve the shared model over STOMP until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from traitsweb.background import Scheduler, start_model
from traitsweb.broker import connect
from traitsweb.factory import FactoryError, load_model

from .config import ModelSettings
from .service import ModelService
from .store import Store


def main() -> None:
    settings = ModelSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s model %(levelname)s %(name)s: %(message)s")
    try:
        model = load_model(settings.model)
    except FactoryError as exc:
        sys.exit(f"model: TRAITSWEB_MODEL={settings.model}: {exc}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Store(settings.data_dir / "model.sqlite3") as store:
        service = ModelService(settings, model, store)
        with connect(
            settings.broker, name="model", heartbeat_ms=settings.heartbeat_ms, on_state=service.on_broker_state
        ) as client:
            service.attach(client)
            with Scheduler(service.apply_background) as scheduler:
                # under the lock, so whatever start() changes is journaled and published too
                service.apply_background(lambda: start_model(model, scheduler))
                service.run(stop)


if __name__ == "__main__":
    main()
