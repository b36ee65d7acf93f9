"""``python -m services.desktop``: the live window, or ``--headless`` PNG snapshots.

    python -m services.desktop [--name NAME]
    python -m services.desktop --headless --snapshot-dir DIR --interval SECONDS

Enthought picks its toolkit at first import, so ``ETS_TOOLKIT`` is settled here
before any of it is imported: ``null.celiagg`` for headless PNGs (no display),
``qt`` for the window, unless the environment already names one (tests use
``qt.celiagg`` under ``QT_QPA_PLATFORM=offscreen``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from traitsweb.broker import StompClient

from .config import DesktopSettings


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.desktop", description=__doc__.splitlines()[0])
    parser.add_argument("--headless", action="store_true", help="write PNG snapshots instead of opening a window")
    parser.add_argument("--snapshot-dir", type=Path, help="where the PNGs go (TRAITSWEB_SNAPSHOT_DIR)")
    parser.add_argument("--interval", type=float, help="seconds between two PNGs (TRAITSWEB_SNAPSHOT_INTERVAL)")
    parser.add_argument("--name", help="the desktop user's name in the chat (TRAITSWEB_DESKTOP_NAME)")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    toolkit = os.environ.get("ETS_TOOLKIT", "")
    if args.headless and not toolkit.startswith("null"):
        os.environ["ETS_TOOLKIT"] = "null.celiagg"
    elif not args.headless and not toolkit.startswith("qt"):
        os.environ["ETS_TOOLKIT"] = "qt"
    overrides = {"snapshot_dir": args.snapshot_dir, "snapshot_interval": args.interval, "desktop_name": args.name}
    settings = DesktopSettings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=settings.log_level, format="%(asctime)s desktop %(levelname)s %(name)s: %(message)s")
    from .link import Link  # Enthought imports start here, after ETS_TOOLKIT is settled

    link = Link(settings, participant=not args.headless)
    with StompClient(settings.broker, name="desktop", heartbeat_ms=settings.heartbeat_ms,
                     on_state=link.on_broker_state) as client:
        link.attach(client)
        if args.headless:
            from . import headless

            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            headless.run(link, settings, stop)
        else:
            from . import window

            window.run(link, settings)


if __name__ == "__main__":
    main()
