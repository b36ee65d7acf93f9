"""``python -m runner``: run compose.yaml's services as local processes until Ctrl-C.

    python -m runner --gateways 3          # what `make run GATEWAYS=3` does
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from runner.stack import ROOT, Stack, StackConfig


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m runner", description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=2, help="gateway replicas (default 2)")
    parser.add_argument("--port", type=int, default=8000, help="the proxy's port (default 8000)")
    parser.add_argument("--stomp-port", type=int, default=61613, help="the private RabbitMQ node's STOMP port")
    parser.add_argument("--no-desktop", action="store_true", help="do not start the desktop service")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run" / "local", help="logs, data and sockets")
    args = parser.parse_args()
    config = StackConfig(
        run_dir=args.run_dir,
        gateways=args.gateways,
        proxy_port=args.port,
        stomp_port=args.stomp_port,
        desktop=not args.no_desktop,
        desktop_window=bool(os.environ.get("DISPLAY")),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"traitsweb: starting RabbitMQ, the model, {args.gateways} gateway(s), nginx"
          f"{'' if args.no_desktop else ' and the desktop'} (logs in {config.run_dir}/logs)", flush=True)
    with Stack(config) as stack:
        print(f"traitsweb: ready on {stack.proxy_url}  (broker stomp://127.0.0.1:{stack.stomp_port}; Ctrl-C stops)",
              flush=True)
        stop.wait()
        print("traitsweb: stopping", flush=True)


if __name__ == "__main__":
    main()
