"""The page generated from a model's schema, on a model with no page of its own (tests/models/counter.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runner.stack import Stack
from tests.conftest import BASE_URL
from tests.gateway.test_browser import browser, open_chat, screenshot  # noqa: F401 - the fixture

pytestmark = [pytest.mark.stack, pytest.mark.browser]

def serving(make_stack: Any, model: str) -> Iterator[Stack]:
    """One gateway behind nginx serving ``model`` (a local stack: skipped against TRAITSWEB_BASE_URL)."""
    if BASE_URL:
        pytest.skip("serves a model of its own on a local stack (TRAITSWEB_BASE_URL is set)")
    with make_stack(gateways=1, proxy=True, serving=model) as stack:
        yield stack


INJECTED = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def counter(make_stack: Any) -> Iterator[Stack]:
    yield from serving(make_stack, "tests.models.counter:create")


def join(browser: Any, stack: Stack, name: str) -> Any:  # noqa: F811
    page = open_chat(browser, stack.proxy_url, name, main="#model")  # the chat's log-in form and status line
    page.wait_for_selector("[data-control=increment] input[type=range]")
    return page


def move_slider(page: Any, trait: str, value: int) -> None:
    page.eval_on_selector(f"[data-control={trait}] input[type=range]",
                          "(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input'));"
                          " s.dispatchEvent(new Event('change')); }", value)


def test_the_root_serves_the_generated_page_for_a_model_without_one(counter: Stack) -> None:
    page = httpx.get(counter.proxy_url + "/")
    assert page.status_code == 200 and "/static/model.js" in page.text
    chat = httpx.get(counter.proxy_url + "/generated")
    assert chat.status_code == 200 and "/static/model.js" in chat.text


def test_controls_follow_the_schema_and_changes_show_on_every_page(browser: Any, counter: Stack) -> None:  # noqa: F811
    from traitsweb.client import RemoteModel

    remote = RemoteModel.connect(counter.proxy_url, "Script")  # a Python client beside the pages
    one = join(browser, counter, "One")
    two = join(browser, counter, "Two")
    slider = one.locator("[data-control=increment] input[type=range]")
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("-10", "10")
    options = one.eval_on_selector_all("[data-control=colour] option", "os => os.map(o => o.textContent)")
    assert options == ["red", "green", "blue"]
    before = int(two.locator("[data-trait=total]").inner_text())
    move_slider(one, "increment", 7)
    two.wait_for_function(f"() => document.querySelector('[data-trait=total]').textContent === '{before + 7}'")
    remote.wait_for(lambda r: r.total == before + 7, timeout=30)
    remote.close()
    points = int(two.locator("[data-view=history] svg").get_attribute("data-points"))
    move_slider(two, "increment", -3)
    one.wait_for_function(f"() => document.querySelector('[data-trait=total]').textContent === '{before + 4}'")
    two.wait_for_function(f"() => Number(document.querySelector('[data-view=history] svg').dataset.points) === {points + 1}")
    one.select_option("[data-control=colour] select", label="green")
    two.wait_for_function("() => document.querySelector('[data-trait=colours]').textContent.includes('green')")
    assert not one.dialogs and not two.dialogs


def test_a_refused_value_shows_its_error_at_the_control(browser: Any, counter: Stack) -> None:  # noqa: F811
    page = join(browser, counter, "Refused")
    page.fill("[data-control=increment] input[type=number]", "50")
    page.dispatch_event("[data-control=increment] input[type=number]", "change")
    page.wait_for_function("() => document.querySelector('[data-control=increment] .error').textContent.includes('10')")


def test_injected_text_stays_text(browser: Any, counter: Stack) -> None:  # noqa: F811
    mallory = join(browser, counter, INJECTED)
    victim = join(browser, counter, "Victim")
    victim.wait_for_function("n => document.querySelector('[data-trait=participants]').textContent.includes(n)",
                             arg=INJECTED)
    for page in (mallory, victim):
        assert page.evaluate("() => window.__xss === undefined")
        assert page.evaluate("() => document.querySelectorAll('#views img, #controls img').length") == 0


@pytest.fixture(scope="module")
def instrument(make_stack: Any) -> Iterator[Stack]:
    yield from serving(make_stack, "examples.instrument:create")


def test_the_instrument_page_charts_readings_the_model_takes_by_itself(browser: Any, instrument: Stack) -> None:  # noqa: F811
    page = open_chat(browser, instrument.proxy_url, "Watcher", main="#model", viewport={"width": 1100, "height": 900})
    chart = "[data-view=readings] svg"
    page.wait_for_selector(chart)
    page.wait_for_function(f"() => Number(document.querySelector('{chart}').dataset.points) >= 20")
    start = int(page.get_attribute(chart, "data-points"))
    seen = page.evaluate("() => document.querySelector('[data-trait=samples]').textContent")
    page.wait_for_function(f"() => document.querySelector('[data-trait=samples]').textContent !== '{seen}'")
    page.wait_for_function(f"() => Number(document.querySelector('{chart}').dataset.points) > {start} || {start} >= 200")
    assert page.eval_on_selector("[data-control=mode] select", "s => s.options.length") == 3
    # the model's group and order metadata lay the page out
    assert page.eval_on_selector_all("#views h2.group", "hs => hs.map(h => h.textContent)") == ["Settings", "Measurements"]
    views = page.eval_on_selector_all("#views [data-view]", "vs => vs.map(v => v.dataset.view)")
    assert views[-6:] == ["setpoint", "mode", "running", "readings", "samples", "statistics"]
    page.select_option("[data-control=mode] select", label="sine")
    page.wait_for_function("() => document.querySelector('[data-trait=mode]').textContent === 'sine'")
    move_slider(page, "setpoint", 60)
    page.wait_for_function("() => document.querySelector('[data-trait=setpoint]').textContent === '60'")
    page.wait_for_function("() => Number(document.querySelector('[data-view=readings] .scalar').textContent) > 50")
    screenshot(page, "instrument-page", docs="screenshot-instrument", full_page=True)


@pytest.fixture(scope="module")
def taskboard(make_stack: Any) -> Iterator[Stack]:
    yield from serving(make_stack, "examples.taskboard:create")


def add_task(page: Any, text: str) -> None:
    page.fill("[data-control=new_task] input[type=text]", text)
    page.click("[data-control=new_task] button")
    page.wait_for_function("() => document.querySelector('[data-control=new_task] input').value === ''")


def test_the_task_board_page_shows_dicts_and_sets_item_by_item(browser: Any, taskboard: Stack) -> None:  # noqa: F811
    page = open_chat(browser, taskboard.proxy_url, "Planner", main="#model", viewport={"width": 1100, "height": 800})
    other = open_chat(browser, taskboard.proxy_url, "Doer", main="#model")
    add_task(page, "write the report #docs #urgent")
    add_task(page, "order reagents #lab")
    cell = "[data-trait=tasks] td"
    other.wait_for_function(f"() => [...document.querySelectorAll('{cell}')].some(td => td.textContent === 'order reagents')")
    chips = other.eval_on_selector_all("[data-trait=tags] li", "ls => ls.map(l => l.textContent)")
    assert {"docs", "urgent", "lab"} <= set(chips)
    rows = other.evaluate("() => document.querySelectorAll('[data-trait=tasks] tbody tr').length")
    task_id = other.evaluate("() => [...document.querySelectorAll('[data-trait=tasks] tbody tr')]"
                             ".find(tr => tr.textContent.includes('write the report')).firstElementChild.textContent")
    other.evaluate("() => { window.__rows = document.querySelector('[data-trait=tasks] tbody').children.length;"
                   " window.__first = document.querySelector('[data-trait=tasks] tbody tr'); }")
    other.fill("[data-control=complete] input[type=text]", task_id)
    other.click("[data-control=complete] button")
    page.wait_for_function(f"() => [...document.querySelectorAll('[data-trait=tasks] tbody tr')]"
                           f".some(tr => tr.firstElementChild.textContent === '{task_id}' && tr.textContent.includes('yes'))")
    # the row changed in place: the table was not rebuilt
    assert other.evaluate("() => document.querySelector('[data-trait=tasks] tbody tr') === window.__first")
    assert other.evaluate("() => document.querySelector('[data-trait=tasks] tbody').children.length") == rows
    other.fill("[data-control=complete] input[type=text]", "t999")
    other.click("[data-control=complete] button")
    other.wait_for_function("() => document.querySelector('[data-control=complete] .error').textContent !== ''")
    screenshot(page, "taskboard-page", docs="screenshot-taskboard", full_page=True)
