"""Secrets stay secret on the machine: private files, no password in a DEBUG log, no token in nginx's log."""

from __future__ import annotations

import contextlib
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.stack import Stack
from tests.webclient import WebClient

pytestmark = pytest.mark.stack

DEBUG = {"TRAITSWEB_LOG_LEVEL": "DEBUG"}


@pytest.fixture(scope="module")
def stack(make_stack: Callable[..., contextlib.AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with make_stack(gateways=1, proxy=True, env={"model": DEBUG, "gateway": DEBUG}) as s:
        yield s


def files_holding(root: Path, secrets: list[str]) -> dict[Path, str]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                for secret in secrets:
                    if secret.encode() in data:
                        found[path] = secret
    return found


def test_every_file_holding_a_secret_is_private(stack: Stack) -> None:
    mode = stat.S_IMODE(stack.run_dir.stat().st_mode)
    assert mode & 0o007 == 0 and mode & 0o060 == 0, oct(mode)  # others: nothing; the group at most traverses
    holding = files_holding(stack.run_dir, list(stack.secrets.values()))
    for name in ("secrets.env", "supervisord.conf", "rabbitmq/definitions.json"):
        assert stack.run_dir / name in holding, f"{name} should hold secrets (else this test checks nothing)"
    for path in holding:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path}: {oct(path.stat().st_mode)}"
    # the logs too: a secret that reaches one by mistake stays the owner's
    logs = list((stack.run_dir / "logs").glob("*.log"))
    assert {"model.log", "gateway-1.log", "proxy-access.log"} <= {p.name for p in logs}
    for path in logs:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path}: {oct(path.stat().st_mode)}"


def test_a_debug_log_of_stomp_frames_holds_no_password(stack: Stack) -> None:
    passwords = [stack.secrets[f"TRAITSWEB_{user}_PASSWORD"] for user in ("MODEL", "GATEWAY")]
    for program in ("model", "gateway-1"):
        log = stack.log(program)
        assert "sending frame" in log and "passcode:" in log, f"{program}: no DEBUG frame log to check"
        for password in passwords:
            assert password not in log, f"{program}'s log holds a broker password"


def test_the_access_log_holds_no_websocket_token(stack: Stack) -> None:
    from websockets.sync.client import connect

    with WebClient(stack.proxy_url) as client:
        client.login("token-in-log")
        url = stack.proxy_url.replace("http", "ws", 1) + f"/api/ws?token={client.token}&since={client.seq}"
        with connect(url, additional_headers={"Origin": stack.proxy_url}, open_timeout=10):
            pass
        access = stack.run_dir / "logs" / "proxy-access.log"
        deadline = time.monotonic() + 20
        while "/api/ws" not in (access.read_text() if access.exists() else ""):
            assert time.monotonic() < deadline, "nginx logged no WebSocket request"
            time.sleep(0.2)  # nginx flushes its buffered access log every second: no event to wait on
        text = access.read_text()
        assert client.token not in text
        assert client.token.split(".")[0] not in text
