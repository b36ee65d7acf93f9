"""Screenshot of the live desktop window: ``make screenshot`` (runs this under xvfb-run).

Starts a small local stack (RabbitMQ, the model, the desktop window on
``$DISPLAY``), plays some chat and rating traffic over STOMP spread over a
few seconds (so the activity plot has a history), and saves the window with
ImageMagick's ``import``.

``--model MODULE:FACTORY`` serves another model instead (the desktop then shows
its generated window); for ``examples.instrument:create`` a browser-like user
steers the instrument (mode, setpoint) while it samples by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from runner.stack import ROOT, Stack, StackConfig
from traitsweb import protocol
from traitsweb.broker import StompClient
from traitsweb.settings import parse_broker_url

PEOPLE = {"alice": 5, "bob": 4, "carol": 4, "dave": 3, "erin": 5, "frank": 2}
LINES = [
    "hello everyone", "the desktop sees us live", "rating my connection now", "works on my phone too",
    "who else is here?", "latency feels fine", "nice plots!", "a bit slow from the train", "back again",
]


class Traffic:
    """A STOMP client that logs people in and writes as they would from browsers."""

    def __init__(self, url: str) -> None:
        self.client = StompClient(parse_broker_url(url), name="screenshot")
        self.seen = threading.Condition()
        self.participants: set[str] = set()

    def __enter__(self) -> Traffic:
        self.client.start()
        self.client.subscribe(protocol.OUT, self._on_out)
        if not self.client.wait_connected(30):
            raise SystemExit("screenshot: cannot connect to the broker")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _on_out(self, frame: object) -> None:
        message = json.loads(frame.body)  # type: ignore[attr-defined]
        if message.get("trait") == "participants":
            with self.seen:
                self.participants.update(message.get("set", {}))
                self.seen.notify_all()

    def login(self, name: str) -> str:
        session = uuid.uuid4().hex
        self._send(protocol.CONTROL, {"type": "login", "id": session, "name": name, "msg_id": uuid.uuid4().hex})
        with self.seen:
            if not self.seen.wait_for(lambda: session in self.participants, 30):
                raise SystemExit(f"screenshot: {name} never joined")
        return session

    def write(self, session: str, trait: str, value: object) -> None:
        self._send(protocol.INPUT, {"id": session, "trait": trait, "value": value, "msg_id": uuid.uuid4().hex})

    def _send(self, destination: str, message: dict[str, object]) -> None:
        self.client.send(destination, protocol.encode(message), headers=protocol.SEND_HEADERS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?", default=ROOT / "docs" / "screenshot-desktop.png")
    parser.add_argument("--seconds", type=float, default=24.0, help="how long the traffic lasts")
    parser.add_argument("--model", help="serve this model (MODULE:FACTORY) instead of the chat")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        raise SystemExit("screenshot: no DISPLAY; run it as `make screenshot` (under xvfb-run)")
    env = {"desktop": {"TRAITSWEB_BUCKET_SECONDS": "2", "TRAITSWEB_BUCKETS": "20", "TRAITSWEB_DESKTOP_NAME": "desktop"}}
    if args.model:
        env["model"] = {"TRAITSWEB_MODEL": args.model}
    config = StackConfig(run_dir=ROOT / ".run" / "screenshot", gateways=0, proxy=False, desktop=True,
                         desktop_window=True, env=env)
    with Stack(config) as stack, Traffic(stack.broker_url("gateway")) as traffic:
        if args.model is None:
            _chat(traffic, args.seconds)
        elif args.model == "examples.instrument:create":
            _instrument(traffic, args.seconds)
        elif args.model == "examples.taskboard:create":
            _taskboard(traffic, args.seconds)
        else:
            time.sleep(args.seconds)  # the model moves by itself, or not at all
        time.sleep(1.5)  # let the window's 0.1 s redraw timer show the last changes
        args.output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "traitsweb desktop", str(args.output)], check=True)
    print(f"screenshot: wrote {args.output}")


def _instrument(traffic: Traffic, seconds: float) -> None:
    """A browser-like user steers the instrument: a few setpoints, in sine then steady mode."""
    session = traffic.login("lab-user")
    steps = [("mode", "sine"), ("setpoint", 45.0), ("setpoint", 70.0), ("mode", "steady"), ("setpoint", 35.0),
             ("mode", "noise"), ("setpoint", 55.0)]
    time.sleep(max(0.0, seconds - 10.5))
    for trait, value in steps:  # within the last 10 s: the 200 readings kept at 20 Hz show every step
        traffic.write(session, trait, value)
        time.sleep(1.5)


def _taskboard(traffic: Traffic, seconds: float) -> None:
    """Two people fill the board and finish a task."""
    ada, grace = traffic.login("ada"), traffic.login("grace")
    for who, text in ((ada, "write the report #docs #urgent"), (grace, "order reagents #lab"),
                      (ada, "calibrate the balance #lab"), (grace, "book the cold room #lab #urgent")):
        traffic.write(who, "new_task", text)
        time.sleep(0.5)
    traffic.write(grace, "complete", "t2")
    time.sleep(max(0.0, seconds - 2.5))


def _chat(traffic: Traffic, seconds: float) -> None:
    rng = random.Random(7)
    sessions = {name: traffic.login(name) for name in PEOPLE}
    start = time.monotonic()
    step = 0
    while time.monotonic() - start < seconds:
        name = rng.choice(list(PEOPLE))
        traffic.write(sessions[name], "entry_field", rng.choice(LINES))
        if step % 3 == 0:  # ratings drift towards each person's usual one
            rating = min(5, max(1, PEOPLE[name] + rng.choice((-1, 0, 0, 1))))
            traffic.write(sessions[name], "rating_selector", rating)
        step += 1
        time.sleep(rng.uniform(0.1, 0.9) if step % 7 else 2.0)  # pacing, so the history has a shape
    for name, rating in PEOPLE.items():
        traffic.write(sessions[name], "rating_selector", rating)
    traffic.write(sessions["alice"], "entry_field", "see you on the desktop window!")


if __name__ == "__main__":
    sys.exit(main())
