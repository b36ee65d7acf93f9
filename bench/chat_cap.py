"""The chat at its history cap beside an empty chat: what a join and a new message cost.

At each history length (the empty chat first, then after filling it past its 10,000-message cap with long
messages) three figures:

- gateway CPU per join: ``POST /api/login`` plus ``GET /api/state`` for many new sessions, straight to the
  replicas; the replicas' CPU seconds (``/proc``) over the joins, per join, and the size of the state;
- a page joining: headless Chromium through nginx, from the click on the log-in button to the animation
  frame at which the chat's newest message is on the page;
- each new message on a page that has joined: messages sent over HTTP carry their send time
  (``Date.now()`` in milliseconds, the same clock as the page's) and a ``MutationObserver`` on the message
  list takes the time each one's row appears.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, ContextManager

import aiohttp

from bench.clients import headers, login_many
from bench.config import BenchConfig
from bench.hist import percentile
from bench.page import ARGS, CHROMIUM
from bench.procs import cpu_seconds
from runner.stack import Stack

__all__ = ["section"]

StackFactory = Callable[..., ContextManager[Stack]]
CAP = 10_000  # services/model/chat.py: Chat.max_messages

_JOIN = """(latest) => new Promise((resolve) => {
  const began = performance.now();
  document.querySelector('#login-form button').click();
  const check = () => {
    const last = document.querySelector('#messages li:last-child .text');
    const live = document.querySelector('#status').textContent === 'live';
    if (latest ? last && last.textContent === latest : live) resolve(performance.now() - began);
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})"""

_WATCH = """() => {
  window.__shown = [];
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) for (const node of r.addedNodes) {
      const text = node.querySelector && node.querySelector('.text');
      const match = text && /^cap-bench (\\d+) /.exec(text.textContent);
      if (match) window.__shown.push(now - Number(match[1]));
    }
  }).observe(document.querySelector('#messages'), { childList: true });
}"""


async def _fill(base: str, origin: str, count: int, length: int, first: int = 0) -> str:
    """Send ``count`` messages of ``length`` characters from one session, numbered from ``first``; returns
    the last one's text."""
    (login,) = await login_many([base], 1, origin)
    padding = "x" * length
    sem = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers=headers(login.token, origin)) as http:

        async def one(i: int) -> None:
            body = {"trait": "entry_field", "value": f"fill {i} {padding}"[:length], "msg_id": uuid.uuid4().hex[:24]}
            async with sem:
                for _ in range(20):
                    async with http.post(f"{base}/api/send", json=body) as r:
                        if r.status == 202:
                            return
                        if r.status not in (429, 503):
                            raise RuntimeError(f"filling the chat: {r.status} {await r.text()}")
                    await asyncio.sleep(0.2)
                raise RuntimeError("filling the chat: a send kept being refused")

        await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return f"fill {first + count - 1} {padding}"[:length]


async def _latest(base: str, origin: str, text: str | None, timeout: float = 180) -> tuple[int, str, int]:
    """Wait until the chat's newest message is ``text`` (any, if None): (messages in the state, that text, bytes)."""
    (login,) = await login_many([base], 1, origin)
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(headers=headers(login.token, origin)) as http:
        while True:
            async with http.get(f"{base}/api/state") as r:
                raw = await r.read()
            messages = json.loads(raw)["state"]["messages"]
            newest = messages[-1]["text"] if messages else ""
            if text is None or newest == text:
                return len(messages), newest, len(raw)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the chat did not reach its last filled message within {timeout:g} s")
            await asyncio.sleep(0.25)


async def _joins(bases: list[str], origin: str, count: int) -> None:
    logins = await login_many(bases, count, origin, concurrency=8)
    sem = asyncio.Semaphore(8)
    async with aiohttp.ClientSession() as http:

        async def state(login: Any) -> None:
            async with sem, http.get(f"{login.base}/api/state", headers=headers(login.token, origin)) as r:
                r.raise_for_status()
                await r.read()

        await asyncio.gather(*(state(login) for login in logins))


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` on an event loop of its own thread (Playwright's sync API holds this thread's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def _cpu_per_join(stack: Stack, origin: str, count: int) -> float:
    pids = [stack.pid(f"gateway-{k}") for k in range(1, len(stack.gateway_urls) + 1)]
    _run(_joins(stack.gateway_urls, origin, max(2, count // 10)))  # warm-up: this state's reply encoded, caches filled
    before = sum(cpu_seconds(p) for p in pids)
    _run(_joins(stack.gateway_urls, origin, count))
    return (sum(cpu_seconds(p) for p in pids) - before) / count


async def _send_stamped(base: str, origin: str, count: int, rate: float) -> None:
    (login,) = await login_many([base], 1, origin)
    async with aiohttp.ClientSession(headers=headers(login.token, origin)) as http:
        for i in range(count):
            began = time.monotonic()
            body = {"trait": "entry_field", "value": f"cap-bench {int(time.time() * 1000)} {i}"}
            async with http.post(f"{base}/api/send", json=body) as r:
                if r.status != 202:
                    raise RuntimeError(f"a timed message was refused: {r.status} {await r.text()}")
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))


def _page(browser: Any, stack: Stack, origin: str, latest: str, config: BenchConfig) -> dict[str, Any]:
    joins: list[float] = []
    for k in range(config.cap_page_joins):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(stack.proxy_url)
            page.fill("#name", f"cap-reader-{k}")
            joins.append(page.evaluate(_JOIN, latest))
            if k < config.cap_page_joins - 1:
                continue
            page.evaluate(_WATCH)
            _run(_send_stamped(stack.gateway_urls[0], origin, config.cap_messages, config.cap_rate))
            page.wait_for_function(f"() => window.__shown.length >= {config.cap_messages}", timeout=60_000)
            shown = page.evaluate("() => window.__shown")
        finally:
            context.close()
    return {
        "page join ms p50": round(percentile(joins, 50), 1),
        "page join ms max": round(max(joins), 1),
        "new message ms p50": round(percentile(shown, 50), 1),
        "new message ms p99": round(percentile(shown, 99), 1),
        "new messages timed": len(shown),
    }


def _measure(stack: Stack, browser: Any, origin: str, config: BenchConfig, latest: str | None) -> dict[str, Any]:
    held, newest, state_bytes = _run(_latest(stack.gateway_urls[0], origin, latest))
    cpu = _cpu_per_join(stack, origin, config.cap_joins)
    return {"state bytes": state_bytes, "messages in the state": held,
            "gateway cpu ms per join": round(cpu * 1000, 3), **_page(browser, stack, origin, newest, config)}


def section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    rows = []
    with stack_factory(config, "chat-at-cap", gateways=2, proxy=True) as stack, sync_playwright() as playwright:
        origin = f"http://127.0.0.1:{stack.proxy_port}"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            rows.append({"history": "as started", **_measure(stack, browser, origin, config, None)})
            sent = 0
            for total in (config.cap_bounded, config.cap_fill):
                filled = _run(_fill(stack.gateway_urls[0], origin, total - sent, config.cap_length, first=sent))
                sent = total
                rows.append({"history": f"{total:,} sent of {config.cap_length:,} characters",
                             **_measure(stack, browser, origin, config, filled)})
        finally:
            browser.close()
    first, bounded, full = rows
    ratio = full["gateway cpu ms per join"] / max(bounded["gateway cpu ms per join"], 1e-9)
    return {
        "description": f"The chat page and the gateways on a chat as started and after {config.cap_fill:,} messages "
        f"of {config.cap_length:,} characters (the chat keeps {CAP:,}; the snapshot holds only the newest "
        "part of the list, `TRAITSWEB_SNAPSHOT_MAX_BYTES`), and between them after "
        f"{config.cap_bounded:,}, where the snapshot has just reached that bound. Gateway CPU per join: "
        f"{config.cap_joins} new sessions (after {max(2, config.cap_joins // 10)} not counted), each "
        "`POST /api/login` and `GET /api/state`, round-robin straight to the 2 replicas; independent of the "
        f"history means the same at {config.cap_fill:,} messages as at {config.cap_bounded:,}. Page join: "
        "headless Chromium through nginx, click on log-in to the newest message shown "
        f"({config.cap_page_joins} joins). New message: {config.cap_messages} messages at {config.cap_rate:g}/s "
        "sent over HTTP with their send time, to the row appearing on the last page joined (long-poll, the "
        "page's default). Targets: join <= 1 s at the cap, new message p99 <= 50 ms at the cap as on an empty "
        "chat, gateway CPU per join independent of the history's length.",
        "rows": rows,
        "summary": [
            f"chat at cap: page join {full['page join ms p50']} ms p50 / {full['page join ms max']} ms max "
            f"(target <= 1000), new message p99 {full['new message ms p99']} ms at the cap vs "
            f"{first['new message ms p99']} ms as started (target <= 50), gateway CPU per join "
            f"{full['gateway cpu ms per join']} ms at the cap vs {bounded['gateway cpu ms per join']} ms at "
            f"{config.cap_bounded:,} messages ({ratio:.2f}x; {first['gateway cpu ms per join']} ms as started)",
        ],
    }
