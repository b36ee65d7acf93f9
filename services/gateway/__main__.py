"""``python -m services.gateway``: one gateway replica on uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from .app import create_app
from .coalesce import CoalescingHttpToolsProtocol
from .config import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s {settings.replica} %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        proxy_headers=False,
        http=CoalescingHttpToolsProtocol,
    )


if __name__ == "__main__":
    main()
