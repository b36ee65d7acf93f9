"""``python -m services.gateway``: one gateway replica on uvicorn."""

from __future__ import annotations

import gc
import logging

import uvicorn

from . import slowreaders
from .app import create_app
from .config import GatewaySettings


def tune_gc() -> None:
    """Every request allocates short-lived objects (a task, futures, dicts); with the default thresholds
    Python's collector ran a full collection about once a second under fan-out load, each a ~50 ms pause in
    every reply (see docs/benchmarks.md). Collect the young generation every 50,000 allocations instead of 700
    (fewer survivors promoted, so full collections become rare) and keep what exists at start (modules, the
    app) out of every collection."""
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


def main() -> None:
    settings = GatewaySettings()
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s {settings.replica} %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(settings)
    http, ws = slowreaders.bounded(settings.write_buffer_max, settings.write_stall)
    tune_gc()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        proxy_headers=False,
        http=http,
        ws=ws,
        ws_max_size=settings.ws_max_size,  # clients send nothing: a bigger frame closes with 1009
    )


if __name__ == "__main__":
    main()
