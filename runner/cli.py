"""``traitsweb``: serve a Traits model on the local stack.

    traitsweb serve                                  # the chat
    traitsweb serve examples.instrument:create       # any pkg.module:factory returning a SharedModel
    traitsweb serve mymodel:create --gateways 3 --port 8080

``serve`` checks the factory first (it imports, is callable, returns a
``SharedModel`` with a handler class the bridge can serve) and exits with one
line naming the problem if not; then it starts what ``make run`` starts (a
private RabbitMQ node, the model, the gateways behind nginx, the desktop)
serving that model, in the foreground until Ctrl-C. ``python -m runner`` is
the same command.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from traitsweb.factory import FactoryError, load_model

__all__ = ["CHAT", "main"]

CHAT = "services.model.chat:create"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_with_command(list(sys.argv[1:] if argv is None else argv)))
    return int(args.run(args) or 0)


def _with_command(argv: list[str]) -> list[str]:
    """``python -m runner --gateways 3`` (no command) still means ``serve``."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        return ["serve", *argv]
    return argv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="traitsweb", description="Serve a Traits model on the local stack.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve a model on the local stack until Ctrl-C",
                                description="Serve a model on the local stack until Ctrl-C.")
    serve.add_argument("model", nargs="?", default=CHAT, help=f"pkg.module:factory (default {CHAT}, the chat)")
    serve.add_argument("--gateways", type=int, default=2, help="gateway replicas (default 2)")
    serve.add_argument("--port", type=int, default=8000, help="the proxy's port (default 8000)")
    serve.add_argument("--stomp-port", type=int, default=61613, help="the private RabbitMQ node's STOMP port")
    serve.add_argument("--no-desktop", action="store_true", help="do not start the desktop service")
    serve.add_argument("--run-dir", type=Path, help="logs, data and sockets (default .run/local for the chat, "
                                                    ".run/models/<model> for any other)")
    serve.set_defaults(run=_serve)
    return parser


def _serve(args: argparse.Namespace) -> int:
    if args.gateways < 1:
        return _fail("--gateways must be at least 1")
    # the model runs with the caller's working directory on its path, as `python -m` would have it
    path = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    if path[0] not in sys.path:
        sys.path.insert(0, path[0])
    try:
        load_model(args.model)
    except FactoryError as exc:
        return _fail(str(exc))
    from runner.stack import ROOT, Stack, StackConfig, StackError  # supervisor is the runner extra's

    config = StackConfig(
        run_dir=args.run_dir or run_dir_for(args.model, ROOT),
        gateways=args.gateways,
        proxy_port=args.port,
        stomp_port=args.stomp_port,
        desktop=not args.no_desktop,
        desktop_window=bool(os.environ.get("DISPLAY")),
        env={"model": {"TRAITSWEB_MODEL": args.model, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}},
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"traitsweb: serving {args.model}: starting RabbitMQ, the model, {args.gateways} gateway(s), nginx"
          f"{'' if args.no_desktop else ' and the desktop'} (logs in {config.run_dir}/logs)", flush=True)
    try:
        with Stack(config) as stack:
            print(f"traitsweb: ready on {stack.proxy_url}  (broker stomp://127.0.0.1:{stack.stomp_port}; "
                  "Ctrl-C stops)", flush=True)
            stop.wait()
            print("traitsweb: stopping", flush=True)
    except StackError as exc:
        return _fail(str(exc).splitlines()[0] + f" (logs in {config.run_dir}/logs)", code=1)
    return 0


def run_dir_for(model: str, root: Path) -> Path:
    """Each model keeps its own broker, journal and logs: a chat journal is no instrument's history."""
    if model == CHAT:
        return root / ".run" / "local"
    return root / ".run" / "models" / re.sub(r"[^A-Za-z0-9_.-]+", "-", model)


def _fail(message: str, *, code: int = 2) -> int:
    print(f"traitsweb: error: {message}", file=sys.stderr, flush=True)
    return code
