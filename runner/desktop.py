"""``python -m runner.desktop`` (``make desktop``): a desktop on the stack ``make run`` is running.

The window when ``DISPLAY`` is set, else headless PNGs. It connects as the stack's ``desktop`` broker user
with the password the runner generated into the run directory (``secrets.env``), on the STOMP port the
running stack wrote to ``stack.json``::

    python -m runner.desktop [--run-dir .run/local] [--headless] [--snapshot-dir DIR] [--interval S] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from runner.stack import ADDRESSES, ROOT, read_secrets, stomp_handshake

__all__ = ["desktop_command", "main"]

USER = "desktop"


class NoStack(RuntimeError):
    pass


def broker_url(run_dir: Path) -> str:
    """The desktop user's URL for the stack running in ``run_dir``; :class:`NoStack` says why there is none."""
    addresses = run_dir / ADDRESSES
    password = read_secrets(run_dir).get("TRAITSWEB_DESKTOP_PASSWORD")
    if not addresses.exists() or not password:
        raise NoStack(f"no traitsweb stack is running in {run_dir} (start one with `make run`)")
    port = int(json.loads(addresses.read_text())["stomp_port"])
    if not stomp_handshake("127.0.0.1", port, USER, password):
        raise NoStack(f"the stack of {run_dir} does not answer on stomp://127.0.0.1:{port} as {USER!r}: "
                      "is `make run` still running?")
    return f"stomp://{USER}:{password}@127.0.0.1:{port}"


def desktop_command(args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "services.desktop"]
    if args.headless:
        command += ["--headless", "--snapshot-dir", str(args.snapshot_dir or args.run_dir / "desktop-snapshots")]
        if args.interval is not None:
            command += ["--interval", str(args.interval)]
    if args.name:
        command += ["--name", args.name]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make desktop", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run" / "local", help="the running stack's")
    parser.add_argument("--headless", action="store_true", default=None,
                        help="PNG snapshots instead of the window (the default without DISPLAY)")
    parser.add_argument("--snapshot-dir", type=Path, help="headless: where the PNGs go (RUN_DIR/desktop-snapshots)")
    parser.add_argument("--interval", type=float, help="headless: seconds between two PNGs")
    parser.add_argument("--name", help="the desktop user's name in the chat")
    args = parser.parse_args(argv)
    if args.headless is None:
        args.headless = not os.environ.get("DISPLAY")
    try:
        url = broker_url(args.run_dir.resolve())
    except NoStack as exc:
        print(f"make desktop: {exc}", file=sys.stderr)
        return 1
    command = desktop_command(args)
    where = f"PNGs in {command[command.index('--snapshot-dir') + 1]}" if args.headless else "the window"
    print(f"make desktop: {where}, as {USER!r} on {url.rsplit('@', 1)[1]} (Ctrl-C stops)", flush=True)
    os.chdir(ROOT)
    os.execve(command[0], command, {**os.environ, "TRAITSWEB_BROKER_URL": url})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
