"""Chat load for fault tests: clients that send and long-poll through the proxy while something breaks.

Each client sends with a msg_id and retries through 502/503/timeouts (as the
page does), and keeps long-polling with retries. At the end every client's
view must hold every accepted message exactly once, in the model's order.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from tests.webclient import WebClient


@dataclass
class Member:
    client: WebClient
    accepted: list[str] = field(default_factory=list)
    longest_gap: float = 0.0
    poll_errors: int = 0


class ChatLoad:
    def __init__(self, base_url: str, *, clients: int = 4, interval: float = 0.05) -> None:
        self.base_url = base_url
        self.run = uuid.uuid4().hex[:6]
        self.interval = interval
        self.members = [Member(WebClient(base_url, timeout=10)) for _ in range(clients)]
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

    @property
    def sent(self) -> int:
        return sum(len(m.accepted) for m in self.members)

    def wait_sent(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            assert time.monotonic() < deadline, f"only {self.sent} sends accepted"
            time.sleep(0.05)

    def _send(self, n: int, member: Member) -> None:
        k = 0
        while not self._stop_sending.is_set():
            text = f"{self.run} c{n} #{k}"
            response = member.client.send_reliably("entry_field", text)
            if response.status_code == 202:
                member.accepted.append(text)
            k += 1
            self._stop_sending.wait(self.interval)

    def _poll(self, member: Member) -> None:
        last_ok = time.monotonic()
        while not self._stop_polling.is_set():
            try:
                member.client.poll(timeout=2)
                now = time.monotonic()
                member.longest_gap = max(member.longest_gap, now - last_ok)
                last_ok = now
            except (httpx.HTTPError, KeyError):
                member.poll_errors += 1
                self._stop_polling.wait(0.2)

    def stop_sending(self) -> list[str]:
        self._stop_sending.set()
        for thread in self._threads[0::2]:
            thread.join(120)
        return [t for m in self.members for t in m.accepted]

    def model_order(self) -> list[str]:
        state = httpx.get(self.base_url + "/api/state", headers=self.members[0].client.auth, timeout=10).json()
        return [m["text"] for m in state["state"]["messages"] if m["text"].startswith(self.run)]

    def settle(self, timeout: float = 90) -> list[str]:
        """Stop sending, wait until every client saw every accepted message; return the model's order."""
        accepted = self.stop_sending()
        deadline = time.monotonic() + timeout
        while True:
            order = self.model_order()
            views = [[t for t in m.client.texts() if t.startswith(self.run)] for m in self.members]
            if sorted(order) == sorted(accepted) and all(view == order for view in views):
                return order
            assert time.monotonic() < deadline, (
                f"not settled: {len(accepted)} accepted, model has {len(order)}, views have {[len(v) for v in views]};"
                f" missing in model: {sorted(set(accepted) - set(order))[:5]}"
            )
            time.sleep(0.2)

    def report(self) -> str:
        gaps = max(m.longest_gap for m in self.members)
        errors = sum(m.poll_errors for m in self.members)
        return f"{len(self.members)} clients, {self.sent} messages accepted, longest poll gap {gaps:.2f} s, {errors} poll errors retried"
