"""RemoteModel against a real stack (tests/client/lab.py, 2 gateways behind nginx): across processes,
refusals from the gateway and from the model, logging out, and a broker restart."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from traits.api import TraitError

from runner.stack import ROOT, Stack, stomp_handshake
from traitsweb.client import RemoteError, RemoteModel

pytestmark = pytest.mark.stack


@pytest.fixture
def remote(lab_stack: Stack) -> Iterator[RemoteModel]:
    lab_stack.wait_ready(90)
    with RemoteModel.connect(lab_stack.proxy_url, "tester") as remote:
        yield remote


def truth(stack: Stack) -> dict[str, Any]:
    """The state as a fresh session reads it from the gateway."""
    with httpx.Client(base_url=stack.proxy_url, headers={"Origin": stack.proxy_url}) as http:
        token = http.post("/api/login", json={"name": "truth"}).json()["session"]
        state = http.get("/api/state", headers={"Authorization": f"Bearer {token}"}).json()["state"]
        http.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
    return state


@pytest.mark.parametrize("transport", ["poll", "sse"])
def test_two_processes_see_each_others_writes(lab_stack: Stack, remote: RemoteModel, transport: str) -> None:
    remote.set("level", 10, wait=True)
    seen: list[tuple[str, Any, str]] = []
    remote.observe(lambda event: seen.append((event.name, list(event.new), threading.current_thread().name)), "log")
    before = list(remote.log)
    with subprocess.Popen([sys.executable, "-m", "tests.client.writer", lab_stack.proxy_url, "other", transport],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True) as other:
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == "ready"
            remote.level = 77  # the other process waits for it, then writes
            remote.wait_for(lambda r: list(r.log) == [*before, 9], timeout=60)
            report = json.loads(other.stdout.readline())
            assert other.wait(60) == 0
        finally:
            other.kill()
    assert report == {"level": 77, "log": [*before, 9], "transport": transport}
    # observe fired for the other process's write, on the follower thread
    assert seen and seen[-1][:2] == ("log", [*before, 9]) and seen[-1][2].startswith("traitsweb-follower")
    assert "other" in remote.tags and remote.counts["other"] >= 1


def test_gateway_refusals_raise_in_the_callers_thread(remote: RemoteModel) -> None:
    with pytest.raises(TraitError):  # the local trait (from the schema's Range) refuses first
        remote.level = 500
    with pytest.raises(RemoteError) as refused:  # sent as it is: the gateway refuses
        remote.set("level", 500, validate=False)
    assert (refused.value.status, refused.value.code) == (422, "invalid_value")
    assert "100" in refused.value.detail
    with pytest.raises(TraitError):
        remote.participants = {}  # the model's state: read-only
    with pytest.raises(RemoteError) as refused:
        remote._link.send("participants", {})
    assert (refused.value.status, refused.value.code) == (403, "not_writable")


def test_model_refusals_raise_or_are_reported(remote: RemoteModel) -> None:
    remote.set("code", "ABC", wait=True)
    reported: list[dict[str, Any]] = []
    remote.observe(lambda event: reported.append(event.new), "refused")
    with pytest.raises(RemoteError) as refused:  # the regex is not in the schema: the model refuses
        remote.set("code", "abc", wait=True)
    assert refused.value.code == "invalid_value" and "[A-Z]{3}" in refused.value.detail
    assert remote.code == "ABC"  # the state's value again
    remote.code = "xyz"  # without waiting: reported when it arrives
    remote.wait_for(lambda r: len(r.errors) == 2, timeout=30)
    assert [e["msg_id"] for e in remote.errors][0] == refused.value.msg_id
    assert [r["trait"] for r in reported] == ["code", "code"] and remote.code == "ABC"


def sends(stack: Stack) -> float:
    """Writes the gateways have taken (their ``messages_in`` counters)."""
    total = 0.0
    for url in stack.gateway_urls:
        for line in httpx.get(url + "/metrics").text.splitlines():
            if line.startswith("traitsweb_gateway_messages_in_total "):
                total += float(line.split()[1])
    return total


def test_remote_changes_are_not_written_back(lab_stack: Stack, remote: RemoteModel) -> None:
    with RemoteModel.connect(lab_stack.proxy_url, "echo") as other:
        before, taken = list(remote.log), sends(lab_stack)
        level = 1 + remote.level % 50
        other.set("level", level, wait=True)
        other.set("bump", 3, wait=True)
        remote.wait_for(lambda r: r.level == level and list(r.log) == [*before, 3], timeout=30)
        remote.set("bump", 4, wait=True)
        other.sync()
        remote.sync()
        assert list(other.log) == list(remote.log) == [*before, 3, 4] == truth(lab_stack)["log"]
        assert sends(lab_stack) - taken == 3  # the three writes, and no echo of what each client received


def test_a_list_changed_in_place_is_written(lab_stack: Stack, remote: RemoteModel) -> None:
    remote.set("notes", [], wait=True)
    with RemoteModel.connect(lab_stack.proxy_url, "reader") as other:
        remote.notes.append("first")
        other.wait_for(lambda r: list(r.notes) == ["first"], timeout=30)
        other.notes.extend(["second"])
        remote.wait_for(lambda r: list(r.notes) == ["first", "second"], timeout=30)


def test_logged_out_clients_say_so(lab_stack: Stack) -> None:
    remote = RemoteModel.connect(lab_stack.proxy_url, "leaver")
    assert remote.connected
    remote._link.request("POST", "/api/logout")  # as an idle time-out or another tab would
    remote.wait_for(lambda r: not r.connected, timeout=30)
    with pytest.raises(RemoteError) as refused:
        remote.level = 5
    assert refused.value.code == "logged_out"
    remote.close()


def test_a_broker_restart_in_between(lab_stack: Stack) -> None:
    lab_stack.wait_ready(90)
    with RemoteModel.connect(lab_stack.proxy_url, "poller") as poller, \
            RemoteModel.connect(lab_stack.proxy_url, "streamer", transport="sse") as streamer:
        poller.set("bump", 100, wait=True)
        streamer.wait_for(lambda r: r.log[-1:] == [100], timeout=30)
        began = time.monotonic()
        lab_stack.stop("rabbitmq")
        lab_stack.start_program("rabbitmq")
        while not stomp_handshake("127.0.0.1", lab_stack.stomp_port, "model",
                                  lab_stack.secrets["TRAITSWEB_MODEL_PASSWORD"]):
            assert time.monotonic() - began < 90
            time.sleep(0.1)
        lab_stack.wait_ready(60)
        # writes after the restart apply once; both clients follow them
        poller.set("bump", 101, wait=True, timeout=60)
        streamer.set("bump", 102, wait=True, timeout=60)
        poller.wait_for(lambda r: r.log[-1:] == [102], timeout=60)
        streamer.wait_for(lambda r: r.log[-1:] == [102], timeout=60)
        state = truth(lab_stack)
        assert list(poller.log) == list(streamer.log) == state["log"]
        assert state["log"][-3:] == [100, 101, 102] and state["log"].count(101) == 1
        assert poller.connected and streamer.connected


def test_every_gateway_restarting_in_between(lab_stack: Stack) -> None:
    """Requests fail (nginx answers 502, streams end): the clients back off, reconnect and resume."""
    lab_stack.wait_ready(90)
    with RemoteModel.connect(lab_stack.proxy_url, "poller") as poller, \
            RemoteModel.connect(lab_stack.proxy_url, "streamer", transport="sse") as streamer:
        seen: list[bool] = []
        poller.observe(lambda event: seen.append(event.new), "connected")
        streamer.observe(lambda event: seen.append(event.new), "connected")
        for name in ("gateway-1", "gateway-2"):
            lab_stack.stop(name)
        poller.wait_for(lambda r: not r.connected, timeout=60)
        streamer.wait_for(lambda r: not r.connected, timeout=60)
        for name in ("gateway-1", "gateway-2"):
            lab_stack.start_program(name)
        lab_stack.wait_ready(60)
        poller.set("bump", 200, wait=True, timeout=60)
        streamer.wait_for(lambda r: r.log[-1:] == [200] and r.connected, timeout=60)
        poller.wait_for(lambda r: r.connected, timeout=60)
        assert list(poller.log) == list(streamer.log) == truth(lab_stack)["log"]
        assert False in seen and seen[-1] is True
