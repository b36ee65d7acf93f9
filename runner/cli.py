"""``traitsweb``: serve a Traits model on the local stack.

    traitsweb serve                                  # the chat
    traitsweb serve examples.instrument:create       # any pkg.module:factory returning a SharedModel
    traitsweb serve mymodel:create --gateways 3 --port 8080
    traitsweb serve --brokers 3                      # on a 3-node RabbitMQ cluster

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
    serve.add_argument("--models", type=int, default=1,
                       help="model processes: one active, the others standbys that take over (default 1)")
    serve.add_argument("--port", type=int, default=8000, help="the proxy's port (default 8000)")
    serve.add_argument("--stomp-port", type=int, default=61613,
                       help="the private RabbitMQ node's STOMP port (a cluster's first node's)")
    serve.add_argument("--brokers", type=int, default=1,
                       help="RabbitMQ nodes: 1 (default), or 3 for a cluster that survives the loss of one")
    serve.add_argument("--no-desktop", action="store_true", help="do not start the desktop service")
    serve.add_argument("--run-dir", type=Path, help="logs, data and sockets (default .run/local for the chat, "
                                                    ".run/models/<model> for any other)")
    serve.set_defaults(run=_serve)
    upgrade = commands.add_parser(
        "upgrade", help="move input queued by an older release into the quorum queues",
        description="Move what the classic queues of an older release (traitsweb.in, traitsweb.control) still "
                    "hold into the quorum queues, in order, each message with its sender. Run it once on the "
                    "running stack of the new release.")
    upgrade.add_argument("--run-dir", type=Path, default=None,
                         help="the running local stack's directory (default .run/local): its addresses and secrets")
    upgrade.add_argument("--broker", help="host:port[,host:port...] of the STOMP listeners (default: the stack's); "
                                          "passwords from TRAITSWEB_{MODEL,GATEWAY,DESKTOP}_PASSWORD, else the stack's")
    upgrade.add_argument("--idle", type=float, default=3.0, help="seconds without a message that mean a queue is empty")
    upgrade.set_defaults(run=_upgrade)
    return parser


def _upgrade(args: argparse.Namespace) -> int:
    import json

    from runner.stack import ADDRESSES, ROOT, read_secrets
    from runner.upgrade import SENDERS, move_legacy

    run_dir = args.run_dir or ROOT / ".run" / "local"
    saved = read_secrets(run_dir)
    passwords = {}
    for user in ("model", *SENDERS):
        name = f"TRAITSWEB_{user.upper()}_PASSWORD"
        passwords[user] = os.environ.get(name) or saved.get(name, "")
        if not passwords[user]:
            return _fail(f"no password for {user}: set {name} or give the stack's --run-dir")
    broker = args.broker
    if not broker:
        try:
            ports = json.loads((run_dir / ADDRESSES).read_text())["stomp_ports"]
        except (OSError, ValueError, KeyError):
            return _fail(f"no running stack in {run_dir}: start it, or give --broker")
        broker = ",".join(f"127.0.0.1:{port}" for port in ports)
    try:
        counts = move_legacy(broker, passwords, idle=args.idle)
    except (RuntimeError, OSError) as exc:
        return _fail(str(exc), code=1)
    moved = ", ".join(f"{n} from {name}" for name, n in counts.items() if name != "dead") or "no legacy queues"
    print(f"traitsweb: upgrade: moved {moved}; {counts['dead']} dead-lettered (not from a client of the model)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.gateways < 1:
        return _fail("--gateways must be at least 1")
    if args.brokers < 1:
        return _fail("--brokers must be at least 1")
    if args.models < 1:
        return _fail("--models must be at least 1")
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
        brokers=args.brokers,
        models=args.models,
        proxy_port=args.port,
        stomp_port=args.stomp_port,
        desktop=not args.no_desktop,
        desktop_window=bool(os.environ.get("DISPLAY")),
        env={"model": {"TRAITSWEB_MODEL": args.model, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}},
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    nodes = "RabbitMQ" if args.brokers == 1 else f"a cluster of {args.brokers} RabbitMQ nodes"
    print(f"traitsweb: serving {args.model}: starting {nodes}, the model, {args.gateways} gateway(s), nginx"
          f"{'' if args.no_desktop else ' and the desktop'} (logs in {config.run_dir}/logs)", flush=True)
    try:
        with Stack(config) as stack:
            print(f"traitsweb: ready on {stack.proxy_url}  (broker stomp://{stack.broker_addresses}; "
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
