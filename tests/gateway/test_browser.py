"""Two real headless Chromium pages chat through the stack; user text is never run as HTML."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from runner.stack import ROOT

pytestmark = [pytest.mark.stack, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = ROOT / ".run" / "screenshots"
XSS_PAYLOADS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    "<svg onload=window.__xss=3>",
    '"><iframe src="javascript:window.top.__xss=4"></iframe>',
    "javascript:window.__xss=5",
    "<a href=\"javascript:window.__xss=6\">click</a>",
    "{{constructor.constructor('window.__xss=7')()}}",
    "line\nbreak\u0000nul destination:/queue/traitsweb.in",
]


def screenshot(page: Any, name: str, *, docs: str | None = None, full_page: bool = False) -> None:
    """``page`` as .run/screenshots/NAME.png; with TRAITSWEB_UPDATE_SCREENSHOTS set, also as docs/DOCS.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
    if docs is not None and os.environ.get("TRAITSWEB_UPDATE_SCREENSHOTS"):
        shutil.copy(SHOTS / f"{name}.png", ROOT / "docs" / f"{docs}.png")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_chat(browser: Any, base_url: str, name: str, *, path: str = "/", main: str = "#chat", **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    requests: list[str] = []  # every HTTP request and WebSocket the page opens
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: requests.append(socket.url))
    page.requests = requests
    page.goto(base_url + path)
    page.fill("#name", name)
    page.click("#login-form button")
    page.wait_for_selector(f"{main}:not([hidden])")
    page.wait_for_function("() => document.querySelector('#status').textContent === 'live'")
    return page


def say(page: Any, text: str) -> None:
    page.fill("#entry", text)
    page.click("#send-form button")
    page.wait_for_function("() => document.querySelector('#entry').value === ''")  # accepted (202)


def test_two_pages_chat_and_rate(browser: Any, base_url: str) -> None:
    alice = open_chat(browser, base_url, "Alice")
    bob = open_chat(browser, base_url, "Bob", viewport={"width": 390, "height": 844})  # a phone
    say(alice, "Hello Bob, how is your connection?")
    bob.get_by_text("Hello Bob, how is your connection?").wait_for()
    say(bob, "Pretty good - rating it now")
    alice.get_by_text("Pretty good - rating it now").wait_for()
    bob.click("#rating button[data-value='5']")
    alice.wait_for_function("() => document.querySelectorAll('#chart rect.bar')[4].dataset.count === '1'")
    alice.click("#rating button[data-value='4']")
    bob.wait_for_function("() => document.querySelector('#average').textContent === 'average 4.50'")
    assert bob.locator("#participants").inner_text().count("Alice") == 1
    screenshot(alice, "chat-desktop", docs="screenshot-chat")
    screenshot(bob, "chat-phone")
    # a value the model refuses is explained next to the field
    alice.fill("#entry", "")
    alice.click("#send-form button")
    alice.wait_for_function("() => document.querySelector('#send-error').textContent.includes('must not be empty')")
    assert not alice.dialogs and not bob.dialogs


def test_injection_payloads_show_as_text_and_never_run(browser: Any, base_url: str) -> None:
    mallory = open_chat(browser, base_url, '<img src=x onerror="window.__xss=9">')
    victim = open_chat(browser, base_url, "Victim")
    for payload in XSS_PAYLOADS:
        say(mallory, payload)
    last = XSS_PAYLOADS[-1].replace("\u0000", "")
    victim.wait_for_function(
        "n => document.querySelectorAll('#messages li').length >= n", arg=len(XSS_PAYLOADS)
    )
    texts = victim.eval_on_selector_all("#messages li .text", "els => els.map(e => e.textContent)")
    for payload in XSS_PAYLOADS[:-1]:
        assert payload in texts
    assert any(last.split("\n")[0] in t for t in texts)
    names = victim.locator("#participants").inner_text()
    assert '<img src=x onerror="window.__xss=9">' in names
    for page in (mallory, victim):
        assert page.evaluate("() => window.__xss === undefined")
        assert page.evaluate("() => document.querySelectorAll('#messages script, #messages img, #messages iframe, "
                             "#messages svg, #messages a, #participants img').length") == 0
        assert not page.dialogs


def test_the_page_resumes_after_a_gateway_restart(browser: Any, base_url: str, local_stack: Any) -> None:
    reader = open_chat(browser, base_url, "Resumer")
    writer = open_chat(browser, base_url, "Writer")
    say(writer, "before the restart")
    reader.get_by_text("before the restart").wait_for()
    for name in ("gateway-1", "gateway-2"):
        local_stack.stop(name)
        local_stack.start_program(name)
        local_stack.wait_ready(60, [name])
    say(writer, "after the restart")
    reader.get_by_text("after the restart").wait_for(timeout=30_000)
    texts = reader.eval_on_selector_all("#messages li .text", "els => els.map(e => e.textContent)")
    assert texts.count("before the restart") == 1 and texts.count("after the restart") == 1


def test_the_page_is_live_once_its_state_is_loaded_before_any_poll_answers(browser: Any, base_url: str) -> None:
    """On a quiet chat the first long-poll may hold for its whole timeout: the loaded state is already live."""
    page = browser.new_context().new_page()
    held: list[Any] = []
    page.route("**/api/poll*", lambda route: held.append(route))  # never answered while the test looks
    page.goto(base_url)
    page.fill("#name", "Quiet")
    page.click("#login-form button")
    page.wait_for_function("() => document.querySelector('#status').textContent === 'live'")
    assert held, "the page should have opened a long-poll"
    assert page.evaluate("() => document.querySelector('#status').textContent") == "live"
    page.context.close()
