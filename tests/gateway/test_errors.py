"""Every bad request gets its status and a JSON error, and changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import Api
from tests.webclient import WebClient


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[WebClient]:
    c = api.new_client()
    c.login("errors")
    yield c
    c.close()


def state(api: Api, client: WebClient) -> dict:
    body = api.http.get(api.url + "/api/state", headers=client.auth).json()
    return body["state"]


def forge(payload: dict, secret: bytes) -> str:
    data = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    sig = base64.urlsafe_b64encode(hmac.new(secret, data.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{data}.{sig}"


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["detail"], body


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "bad_json"),
        (b"\xff\xfe\x00", {}, 400, "bad_json"),
        (b"[" * 5000 + b"]" * 5000, {}, 400, "bad_json"),
        (json.dumps({"trait": "entry_field"}).encode(), {}, 400, "bad_request"),
        (json.dumps({"trait": "entry_field", "value": "x", "id": "someone-else"}).encode(), {}, 400, "bad_request"),
        (json.dumps(["entry_field", "x"]).encode(), {}, 400, "bad_request"),
        (json.dumps({"trait": "participants", "value": {}}).encode(), {}, 403, "not_writable"),
        (json.dumps({"trait": "no_such_trait", "value": 1}).encode(), {}, 403, "not_writable"),
        (json.dumps({"trait": "rating_selector", "value": 6}).encode(), {}, 422, "invalid_value"),
        (json.dumps({"trait": "rating_selector", "value": "5"}).encode(), {}, 422, "invalid_value"),
        (json.dumps({"trait": "rating_selector", "value": True}).encode(), {}, 422, "invalid_value"),
        (json.dumps({"trait": "entry_field", "value": ""}).encode(), {}, 422, "invalid_value"),
        (json.dumps({"trait": "entry_field", "value": "x" * 2001}).encode(), {}, 422, "invalid_value"),
        (json.dumps({"trait": "entry_field", "value": "x" * 20_000}).encode(), {}, 413, "too_large"),
        (json.dumps({"trait": "entry_field", "value": "hi"}).encode(), {"Origin": "http://evil.example"}, 403, "foreign_origin"),
    ],
)
def test_bad_sends(api: Api, client: WebClient, content: bytes, headers: dict, status: int, code: str) -> None:
    before = state(api, client)
    response = client.http.post(api.url + "/api/send", content=content,
                                headers={**client.auth, "Content-Type": "application/json", **headers})
    expect(response, status, code)
    assert state(api, client) == before


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "no_session"),
        ("garbage", "bad_session"),
        ("eyJzaWQiOiAiMSJ9.c2lnbmF0dXJl", "bad_session"),
    ],
)
def test_missing_and_forged_sessions(api: Api, client: WebClient, token: str | None, code: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for method, path in (("POST", "/api/send"), ("GET", "/api/poll"), ("GET", "/api/state"), ("POST", "/api/logout")):
        response = api.http.request(method, api.url + path, headers={**headers, "Origin": api.url},
                                 json={"trait": "entry_field", "value": "x"} if method == "POST" else None)
        expect(response, 401, code)


def test_tampered_token(api: Api, client: WebClient) -> None:
    assert client.token
    payload, _, signature = client.token.partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["sid"] = "f" * 32  # someone else's session, same signature
    tampered = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode() + "." + signature
    response = api.http.post(api.url + "/api/send", json={"trait": "entry_field", "value": "x"},
                             headers={"Authorization": f"Bearer {tampered}", "Origin": api.url})
    expect(response, 401, "bad_session")


def test_expired_and_unknown_session_tokens(api: Api, client: WebClient) -> None:
    if api.secret is None:
        pytest.skip("needs the session secret (TRAITSWEB_BASE_URL is set)")
    secret = api.secret
    now = time.time()
    expired = forge({"sid": client.id, "name": "errors", "iat": now - 100, "exp": now - 1}, secret)
    response = api.http.post(api.url + "/api/send", json={"trait": "entry_field", "value": "x"},
                             headers={"Authorization": f"Bearer {expired}"})
    expect(response, 401, "bad_session")
    # validly signed, but a session the model never logged in (issued long ago: no grace period)
    stranger = forge({"sid": "e" * 32, "name": "x", "iat": now - 3600, "exp": now + 3600}, secret)
    response = api.http.post(api.url + "/api/send", json={"trait": "entry_field", "value": "x"},
                             headers={"Authorization": f"Bearer {stranger}"})
    expect(response, 401, "logged_out")


def test_cookie_requests_must_come_from_our_origin(api: Api) -> None:
    login = api.http.post(api.url + "/api/login", json={"name": "cookie"}, headers={"Origin": api.url})
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    jar = {"Cookie": cookie.split(";")[0]}  # what the browser sends back

    def send(text: str, **headers: str) -> httpx.Response:
        return api.http.post(api.url + "/api/send", json={"trait": "entry_field", "value": text},
                             headers={**jar, **headers})

    assert send("from the page", Origin=api.url).status_code == 202
    expect(send("csrf", Origin="https://evil.example"), 403, "foreign_origin")
    expect(send("csrf"), 403, "origin_required")
    assert api.http.get(api.url + "/api/session", headers=jar).json()["name"] == "cookie"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": ""}, 422, "invalid_name"),
        ({"name": "x" * 65}, 422, "invalid_name"),
        ({"name": "bell\x07"}, 422, "invalid_name"),
        ({"name": 5}, 400, "bad_request"),
        ({}, 400, "bad_request"),
    ],
)
def test_bad_logins(api: Api, client: WebClient, body: dict, status: int, code: str) -> None:
    before = state(api, client)["participants"]
    expect(api.http.post(api.url + "/api/login", json=body), status, code)
    assert state(api, client)["participants"] == before


@pytest.mark.parametrize("query", ["since=-1", "since=abc", "timeout=1000", "epoch=" + "x" * 100])
def test_bad_poll_queries(api: Api, client: WebClient, query: str) -> None:
    expect(api.http.get(f"{api.url}/api/poll?{query}", headers=client.auth), 400, "bad_request")


def test_unknown_paths_are_json_errors(api: Api) -> None:
    expect(api.http.get(api.url + "/api/nothing-here"), 404, "not_found")
    expect(api.http.delete(api.url + "/api/send"), 405, "method_not_allowed")


def test_sends_are_rate_limited_with_retry_after(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with api.new_client() as flooder:
        flooder.login("flooder")
        # buckets are per replica (no shared state): burst 40 and 20/s on each; 400 sends at once exceed
        # them behind any number of replicas up to 9
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda n: flooder.post(f"flood {n}").status_code, range(400)))
        assert 202 in statuses and 429 in statuses and set(statuses) <= {202, 429}
        limited = flooder.post("one more")
        for _ in range(1000):  # the buckets refill meanwhile: flood until one says no
            if limited.status_code == 429:
                break
            limited = flooder.post("one more")
        assert int(limited.headers["retry-after"]) >= 1
        expect(limited, 429, "rate_limited")


def test_a_retried_send_with_its_msg_id_is_applied_once(api: Api, client: WebClient) -> None:
    text = f"retried {time.time()}"
    for _ in range(3):
        assert client.send("entry_field", text, msg_id="retry-1").status_code == 202
    marker = f"marker {time.time()}"
    assert client.post(marker).status_code == 202
    deadline = time.monotonic() + 30
    while marker not in client.texts():
        assert time.monotonic() < deadline
        client.poll(timeout=5)
    assert client.texts().count(text) == 1


@pytest.mark.parametrize("msg_id", ["", "x" * 32, "has space", "ünïcode", 5])
def test_bad_msg_ids(api: Api, client: WebClient, msg_id: object) -> None:
    response = client.http.post(api.url + "/api/send", json={"trait": "entry_field", "value": "x", "msg_id": msg_id},
                                headers=client.auth)
    expect(response, 400, "bad_request")
