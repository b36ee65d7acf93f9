"""Chat load for fault tests: clients that send and long-poll through the proxy while something breaks.

Each client sends with a msg_id and retries through 502/503/timeouts (as the page does), and keeps
long-polling with retries. :meth:`ChatLoad.settle` then holds the run to what a user may trust:

* every accepted message is in the model's state exactly once, and in every client's view, in the
  model's order; each sender's own messages in the order it sent them;
* no send was refused (any answer but ``202`` after the retries);
* a ``reset`` (a client's view replaced by the full state) is counted; where the fault cannot justify one
  (``resets_expected=False``) there must be none, and both the view a reset replaced and the state it
  brought must be a prefix of the model's final history, so a reset cannot hide a message lost, doubled
  or reordered before it;
* after :meth:`ChatLoad.recovered`, every client's sends and polls succeed again within
  :data:`RECOVERY` seconds, and no client's polls stop for longer than the outage plus that.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.wait import wait_until
from tests.webclient import WebClient

#: `make soak` (TRAITSWEB_SOAK=1): ten times the clients and messages of each fault test
SOAK = bool(os.environ.get("TRAITSWEB_SOAK"))
SCALE = 10 if SOAK else 1
#: the longest a client may wait, after a fault is over, for its sends and polls to succeed again: a
#: bound on healing (two heart-beats to notice, reconnect backoff, re-subscribing, a snapshot; measured
#: 2-5 s), generous for a loaded 2-core machine, and no speed target
RECOVERY = 30.0
#: bounds of the waits for accepted sends and for settling, generous for 10x the load under `make soak`;
#: the soak target's per-test timeout (Makefile) covers the longest fault test's sum of waits
MORE_TIMEOUT = 180.0 if SOAK else 60.0
SETTLE_TIMEOUT = 270.0 if SOAK else 90.0


#: what a stack's gateways need for a chat load: its clients all log in and send from one address, faster than
#: the per-address and per-session defaults allow a person
GATEWAY_LIMITS = {"TRAITSWEB_SEND_RATE": "1000", "TRAITSWEB_LOGIN_RATE": "1000", "TRAITSWEB_LOGIN_BURST": "1000",
                  "TRAITSWEB_SESSIONS_PER_ADDRESS": "1000"}

@dataclass
class Member:
    client: WebClient
    accepted: list[str] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    #: when each accepted send began (its first try): one that began after a fault was not applied before it
    sent_at: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    polled_at: list[float] = field(default_factory=list)
    poll_errors: int = 0
    #: per reset: the client's view just before it, and the state it brought
    resets: list[tuple[list[str], list[str]]] = field(default_factory=list)


class ChatLoad:
    def __init__(self, base_url: str, *, clients: int = 4, interval: float = 0.05, resets_expected: bool = False) -> None:
        self.base_url = base_url
        self.run = uuid.uuid4().hex[:6]
        self.interval = interval
        self.resets_expected = resets_expected
        self.members = [Member(WebClient(base_url, timeout=10)) for _ in range(clients * SCALE)]
        self.fault_began: float | None = None
        self.fault_over: float | None = None
        self._sent = threading.Condition()
        self._stop_sending = threading.Event()
        self._stop_polling = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ChatLoad:
        for n, member in enumerate(self.members):
            member.client.login(f"load{n}-{self.run}")
        for n, member in enumerate(self.members):
            self._threads.append(threading.Thread(target=self._send, args=(n, member), daemon=True))
            self._threads.append(threading.Thread(target=self._poll, args=(member,), daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_sending.set()
        self._stop_polling.set()
        for thread in self._threads:
            thread.join(60)
        for member in self.members:
            member.client.http.close()

    # -- the fault's time line ----------------------------------------------------------
    def fault(self) -> None:
        """The fault begins now."""
        self.fault_began = time.monotonic()

    def recovered(self) -> None:
        """The fault is over now (a replica killed, the broker back, thawed): healing is timed from here."""
        self.fault_over = time.monotonic()

    # -- sending -------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return sum(len(m.accepted) for m in self.members)

    def more(self, count: int) -> None:
        """Wait for ``count`` (times SCALE) more accepted sends."""
        self.wait_sent(self.sent + count * SCALE, timeout=MORE_TIMEOUT)

    def wait_sent(self, count: int, timeout: float = MORE_TIMEOUT) -> None:
        with self._sent:
            assert self._sent.wait_for(lambda: self.sent >= count, timeout), f"only {self.sent} of {count} sends accepted"

    def _send(self, n: int, member: Member) -> None:
        k = 0
        while not self._stop_sending.is_set():
            text = f"{self.run} c{n} #{k}"
            began = time.monotonic()
            response = member.client.send_reliably("entry_field", text)
            with self._sent:
                if response.status_code == 202:
                    member.accepted.append(text)
                    member.accepted_at.append(time.monotonic())
                    member.sent_at.append(began)
                else:
                    member.refused.append(f"{text}: {response.status_code} {response.text[:200]}")
                self._sent.notify_all()
            k += 1
            self._stop_sending.wait(self.interval)

    def stop_sending(self) -> list[str]:
        self._stop_sending.set()
        for thread in self._threads[0::2]:
            thread.join(120)
        return [t for m in self.members for t in m.accepted]

    # -- polling ---------------------------------------------------------------------------
    def mine(self, texts: list[str]) -> list[str]:
        return [t for t in texts if t.startswith(self.run)]

    def _poll(self, member: Member) -> None:
        while not self._stop_polling.is_set():
            try:
                self._poll_once(member)
                member.polled_at.append(time.monotonic())
            except (httpx.HTTPError, KeyError, ValueError):
                member.poll_errors += 1
                self._stop_polling.wait(0.2)

    def _poll_once(self, member: Member) -> None:
        client = member.client
        params = {"since": client.seq, "epoch": client.epoch or "", "timeout": 2}
        response = client.http.get(client.url("/api/poll"), params=params, headers=client.auth)
        response.raise_for_status()
        reply: dict[str, Any] = response.json()
        if reply.get("reset"):
            member.resets.append((self.mine(client.texts()), self.mine([m["text"] for m in reply["state"]["messages"]])))
        client.apply(reply)

    # -- the verdict -------------------------------------------------------------------------
    def model_order(self) -> list[str]:
        state = httpx.get(self.base_url + "/api/state", headers=self.members[0].client.auth, timeout=10).json()
        return self.mine([m["text"] for m in state["state"]["messages"]])

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> list[str]:
        """Stop sending, wait until every client saw every accepted message, check the run; the model's order."""
        accepted = self.stop_sending()
        refused = [r for m in self.members for r in m.refused]
        assert not refused, f"{len(refused)} sends refused, e.g. {refused[:3]}"

        def settled() -> list[str] | None:
            order = self.model_order()
            views = [self.mine(m.client.texts()) for m in self.members]
            return order if sorted(order) == sorted(accepted) and all(view == order for view in views) else None

        def why() -> str:
            order = self.model_order()
            return (f"{len(accepted)} accepted, model has {len(order)}, views have "
                    f"{[len(self.mine(m.client.texts())) for m in self.members]}; missing in model: "
                    f"{sorted(set(accepted) - set(order))[:5]}")

        order = wait_until(settled, timeout=timeout, interval=0.2, what=why)
        assert len(order) == len(set(order)), "a message is in the model's state twice"
        for n, member in enumerate(self.members):
            own = [t for t in order if t.startswith(f"{self.run} c{n} #")]
            assert own == member.accepted, f"client {n}'s messages out of its order or not exactly once"
        self._check_resets(order)
        self._check_recovery()
        return order

    def _check_resets(self, order: list[str]) -> None:
        """Each view a reset replaced, and each state it brought, was a prefix of the model's history.

        So a message lost, doubled or reordered before a reset cannot be hidden by it. (The run stays far
        below the model's 10,000 kept messages, so the history starts with the run's first message.)
        """
        if not self.resets_expected:
            assert self.resets == 0, f"{self.resets} resets where the fault justifies none"
        for n, member in enumerate(self.members):
            for seen, brought in member.resets:
                for name, view in (("view before", seen), ("state of", brought)):
                    differ = next((i for i, (a, b) in enumerate(zip(view, order)) if a != b), min(len(view), len(order)))
                    assert view == order[: len(view)], (
                        f"client {n}: the {name} a reset is not the model's history: {len(view)} messages,"
                        f" {view[differ:differ + 3]} where the model has {order[differ:differ + 3]}")

    def _check_recovery(self) -> None:
        if self.fault_over is None:
            return
        outage = self.fault_over - (self.fault_began or self.fault_over)
        for n, member in enumerate(self.members):
            first_send = next((t for t in member.accepted_at if t >= self.fault_over), None)
            first_poll = next((t for t in member.polled_at if t >= self.fault_over), None)
            assert first_send is not None and first_send - self.fault_over <= RECOVERY, f"client {n}'s sends did not resume"
            assert first_poll is not None and first_poll - self.fault_over <= RECOVERY, f"client {n}'s polls did not resume"
        assert self.longest_gap <= outage + RECOVERY, f"a client's polls stopped {self.longest_gap:.1f} s (outage {outage:.1f} s)"

    # -- figures ---------------------------------------------------------------------------
    @property
    def resets(self) -> int:
        return sum(len(m.resets) for m in self.members)

    @property
    def backward_resets(self) -> int:
        """Resets to a state older than the client's view (a replica behind the client answered)."""
        return sum(len(brought) < len(seen) for m in self.members for seen, brought in m.resets)

    @property
    def write_gap(self) -> float:
        """The longest time between two accepted sends (anyone's) from the fault on."""
        assert self.fault_began is not None
        began = self.fault_began
        times = sorted([began, *(t for m in self.members for t in m.accepted_at if t >= began)])
        return max((b - a for a, b in zip(times, times[1:])), default=float("inf"))

    @property
    def longest_gap(self) -> float:
        gaps = [b - a for m in self.members for a, b in zip(m.polled_at, m.polled_at[1:])]
        return max(gaps, default=0.0)

    def report(self) -> str:
        errors = sum(m.poll_errors for m in self.members)
        return (f"{len(self.members)} clients, {self.sent} messages accepted, longest poll gap {self.longest_gap:.2f} s,"
                f" {errors} poll errors retried, {self.resets} resets ({self.backward_resets} to an older state)")
