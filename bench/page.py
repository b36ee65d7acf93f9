"""The generated page in Chromium on a model with large lists (``bench.models.BigLists``).

Two figures per transport:

- joining to rendered: ``performance.now()`` in the page from the click on the log-in button to the first
  animation frame at which the chart shows its points and the table its rows;
- the page's cost per further item change: the model appends to both lists and trims them 20 times a second
  (4 item changes and one ``count`` set per tick); the page's ``Client`` (``window.__traitsweb``, exposed by
  ``model.js`` for this) has its ``dispatchEvent`` timed with ``performance.now()``, so the handlers of
  ``change`` and ``batch`` (the page's own updates) are measured, and so is every animation-frame callback
  (the chart's redraw); Chromium's own main-thread task time (CDP ``Performance.getMetrics``
  ``TaskDuration``: script, style, layout, paint, network parsing) is reported beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ContextManager

from bench.config import BenchConfig
from bench.hist import percentile
from bench.model_driven import stack_request
from runner.stack import Stack

__all__ = ["section", "CHROMIUM", "ARGS"]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
StackFactory = Callable[..., ContextManager[Stack]]
POINTS, ROWS = 2000, 200  # what model.js draws: the newest points of a chart, the newest rows of a table

_JOIN = """([points, rows]) => new Promise((resolve) => {
  const began = performance.now();
  document.querySelector('#login-form button').click();
  const check = () => {
    const chart = document.querySelector('[data-view="values"] svg.chart');
    const body = document.querySelector('table[data-trait="rows"] tbody');
    if (chart && chart.dataset.points === String(points) && body && body.children.length === rows) {
      resolve(performance.now() - began);
    } else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})"""

_HOOK = """() => {
  const client = window.__traitsweb;
  const cost = window.__cost = { changes: 0, batches: [], handling: 0, frames: 0, frameCount: 0 };
  let reply = 0;
  const dispatch = client.dispatchEvent.bind(client);
  client.dispatchEvent = (event) => {
    const began = performance.now();
    const result = dispatch(event);
    const took = performance.now() - began;
    if (event.type === 'change') { cost.changes += 1; cost.handling += took; reply += took; }
    else if (event.type === 'batch') { cost.handling += took; cost.batches.push(reply + took); reply = 0; }
    return result;
  };
  const frame = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => frame((time) => {
    const began = performance.now();
    callback(time);
    cost.frames += performance.now() - began; cost.frameCount += 1;
  });
}"""


def _measure(browser: Any, base: str, transport: str, size: int, seconds: float) -> dict[str, Any]:
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(f"{base}/?transport={transport}")
        page.fill("#name", f"bench-{transport}")
        joined_ms = page.evaluate(_JOIN, [min(size, POINTS), min(size, ROWS)])
        page.evaluate(_HOOK)
        task0 = _task_seconds(cdp)
        page.wait_for_timeout(seconds * 1000)  # the model changes by itself meanwhile: nothing to wait for
        task = _task_seconds(cdp) - task0
        cost = page.evaluate("() => window.__cost")
        shown = page.evaluate("() => document.querySelector('[data-view=\"values\"] svg.chart').dataset.points")
    finally:
        context.close()
    changes = max(cost["changes"], 1)
    return {
        "transport": transport,
        "items per list": size,
        "joined to rendered ms": round(joined_ms, 1),
        "changes measured (item changes and sets)": cost["changes"],
        "replies": len(cost["batches"]),
        "script ms per change (handlers + frames)": round((cost["handling"] + cost["frames"]) / changes, 3),
        "handlers ms per change": round(cost["handling"] / changes, 3),
        "frames ms per change": round(cost["frames"] / changes, 3),
        "p99 ms per reply (handlers)": round(percentile(cost["batches"], 99), 3),
        "main-thread ms per change (CDP TaskDuration)": round(task * 1000 / changes, 3),
        "chart points drawn": int(shown),
    }


def _task_seconds(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def section(config: BenchConfig, stack_factory: StackFactory) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    from traitsweb.factory import load_model

    size = load_model(config.page_model).size  # type: ignore[attr-defined]
    env, options = stack_request(config.page_model)
    with stack_factory(config, "generated-page", model_env=env, **options) as stack, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            rows = [_measure(browser, stack.proxy_url, t, size, config.page_seconds) for t in ("poll", "sse")]
        finally:
            browser.close()
    return {
        "description": f"The page generated for `{config.page_model}` (a numeric list shown as a chart and a list "
        f"of objects shown as a table, {size} items each) in headless Chromium through nginx; after it rendered, "
        f"the model appends to and trims both lists 20 times a second for {config.page_seconds:g} s. `joined to "
        "rendered`: from the click on the log-in button to the first animation frame showing the chart's points "
        f"(the newest {POINTS}) and the table's rows (the newest {ROWS}). Per change: the time the page's `change` "
        "and `batch` handlers and its animation-frame callbacks took (`performance.now()`), over the item changes "
        "(and `count` sets) received; Chromium's main-thread task time over the same window beside it. Targets: "
        "rendered <= 1 s, <= 5 ms per item change.",
        "rows": rows,
        "summary": [f"generated page {r['transport']}: {r['items per list']} items rendered in "
                    f"{r['joined to rendered ms']} ms (target <= 1000), "
                    f"{r['script ms per change (handlers + frames)']} ms of script per change, "
                    f"{r['main-thread ms per change (CDP TaskDuration)']} ms main thread (target <= 5)"
                    for r in rows],
    }
