"""``python -m services.model``: serve the shared model over STOMP until SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator

from traitsweb.background import Scheduler, start_model
from traitsweb.broker import connect
from traitsweb.factory import FactoryError, load_model

from .config import ModelSettings
from .journal import JournalLost, StreamStore
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
    try:
        with _store(settings) as store, ModelService(settings, model, store) as service:
            with connect(
                settings.broker, name="model", heartbeat_ms=settings.heartbeat_ms, on_state=service.on_broker_state
            ) as client:
                if isinstance(store, StreamStore) and not service.wait_for_lease(client, stop):
                    return
                service.attach(client)
                with Scheduler(service.apply_background) as scheduler:
                    # under the lock, so whatever start() changes is journaled and published too
                    service.apply_background(lambda: start_model(model, scheduler))
                    service.run(stop)
    except JournalLost as exc:
        sys.exit(f"model: {exc}")


@contextlib.contextmanager
def _store(settings: ModelSettings) -> Iterator[Store | StreamStore]:
    """The journal the settings name: the broker's streams (on a connection of its own) or a local file."""
    if settings.journal == "file":
        with Store(settings.data_dir / "model.sqlite3") as store:
            yield store
        return
    if settings.broker.scheme == "memory":
        sys.exit("model: the memory broker has no streams; set TRAITSWEB_JOURNAL=file")
    with connect(settings.broker, name="model-journal", heartbeat_ms=settings.heartbeat_ms) as client:
        with StreamStore(client) as store:
            yield store


if __name__ == "__main__":
    main()
